using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Ipc.Transports;
using Microsoft.Extensions.Logging;

namespace Ipc.Diagnostics;

/// <summary>What a client or a server does, as its spans and metrics name it.</summary>
internal enum IpcOperation
{
    /// <summary>A request/response call (RPC conventions).</summary>
    Request,

    /// <summary>A stream call (RPC conventions).</summary>
    Stream,

    /// <summary>A one-way message sent (messaging conventions).</summary>
    Send,

    /// <summary>A batch of one-way messages sent (messaging conventions).</summary>
    SendBatch,

    /// <summary>A message published to a topic (messaging conventions).</summary>
    Publish,

    /// <summary>A one-way or published message handled by a server (messaging conventions).</summary>
    Process,
}

/// <summary>
/// The spans and metrics of one endpoint, tagged by OpenTelemetry's semantic conventions: RPC for requests and streams,
/// messaging for one-way and published messages. Costs one check per call while nothing listens.
/// </summary>
/// <remarks>
/// A server tags a route its endpoint's server does not map as <see cref="OtherRoute"/> in its span names and metrics:
/// the route is the peer's to choose, and a metric dimension (or a span name, which trace backends index) with a value for
/// every route a peer makes up grows without bound. The server span keeps the route the peer sent in
/// <c>rpc.method_original</c> (requests, streams) or <c>ipc.route_original</c> (one-way messages).
/// </remarks>
internal sealed class EndpointTelemetry
{
    /// <summary>The route a server's spans and metrics name for a route its endpoint's server does not map (OpenTelemetry's value for a method the server does not know).</summary>
    public const string OtherRoute = "_OTHER";

    private readonly string _endpoint;
    private readonly string _address; // as logs show it: without a password
    private readonly string _serverAddress;
    private readonly int _serverPort;
    private readonly string _networkTransport;
    private readonly FrozenSet<string> _serverRoutes;

    /// <param name="metrics">The instruments.</param>
    /// <param name="endpoint">The endpoint's name.</param>
    /// <param name="address">The endpoint's address.</param>
    /// <param name="serverRoutes">The routes the endpoint's server maps, if this process serves it.</param>
    public EndpointTelemetry(IpcMetrics metrics, string endpoint, Uri address, IEnumerable<string>? serverRoutes = null)
    {
        Metrics = metrics;
        _serverRoutes = serverRoutes?.ToFrozenSet(StringComparer.Ordinal) ?? FrozenSet<string>.Empty;
        _endpoint = endpoint;
        _address = AddressText.Redact(address);
        (_serverAddress, _serverPort) = ServerAddress(address);
        _networkTransport = NetworkTransport(address.Scheme);
    }

    public IpcMetrics Metrics { get; }

    /// <summary>Gets the <c>server.address</c> of the endpoint: the host of a network address, else the path or name.</summary>
    public string ServerAddressTag => _serverAddress;

    /// <summary>Gets the <c>network.transport</c> of the endpoint.</summary>
    public string NetworkTransportTag => _networkTransport;

    /// <summary>The routes the server of <paramref name="endpoint"/> maps, among <paramref name="servers"/>; <see langword="null"/> when none serves it.</summary>
    public static IEnumerable<string>? RoutesServed(IEnumerable<Server.IpcServerDefinition> servers, string endpoint) =>
        servers.FirstOrDefault(s => string.Equals(s.EndpointName, endpoint, StringComparison.OrdinalIgnoreCase))?.Routes.Keys;

    /// <summary>Gets the route as a server's spans and metrics name it: the route when the endpoint's server maps it, else <see cref="OtherRoute"/>.</summary>
    public string ServerRoute(string route) => _serverRoutes.Contains(route) ? route : OtherRoute;

    /// <summary>Returns the time a call starts, when its duration histogram is listened to; 0 (no clock read) otherwise.</summary>
    public static long Start(Histogram<double> duration) => duration.Enabled ? Stopwatch.GetTimestamp() : 0;

    public Histogram<double> ClientDuration(IpcOperation operation) => operation switch
    {
        IpcOperation.Request => Metrics.ClientRequestDuration,
        IpcOperation.Stream => Metrics.ClientStreamDuration,
        _ => Metrics.ClientSendDuration,
    };

    public Histogram<double> ServerDuration(IpcOperation operation) => operation switch
    {
        IpcOperation.Request => Metrics.ServerRequestDuration,
        IpcOperation.Stream => Metrics.ServerStreamDuration,
        _ => Metrics.ServerProcessDuration,
    };

    /// <summary>Gets a value indicating whether anything listens to a server operation's span, duration or counters.</summary>
    public bool IsServerObserved(IpcOperation operation) =>
        IpcDiagnostics.ActivitySource.HasListeners() || ServerDuration(operation).Enabled || Metrics.ServerReceivedMessages.Enabled || Metrics.ServerReceivedBytes.Enabled
        || Metrics.ServerSentMessages.Enabled || Metrics.ServerSentBytes.Enabled;

    /// <summary>Counts and logs a state change of the endpoint's circuit breaker.</summary>
    public void CircuitBreakerChanged(string state, ILogger logger)
    {
        Log.CircuitBreakerChanged(logger, state == "open" ? LogLevel.Warning : LogLevel.Information, _endpoint, _address, state);
        if (Metrics.CircuitBreakerTransitions.Enabled)
        {
            var tags = new TagList
            {
                { "rpc.service", _endpoint },
                { "ipc.circuit_breaker.state", state },
                { "server.address", _serverAddress },
                { "network.transport", _networkTransport },
            };
            AddServerPort(ref tags);
            Metrics.CircuitBreakerTransitions.Add(1, tags);
        }
    }

    /// <summary>Counts and logs a retry of a call, and marks the call's span with it.</summary>
    public void Retried(string? route, Exception? error, int attempt, TimeSpan delay, ILogger logger)
    {
        var errorType = error is null ? "_OTHER" : IpcDiagnostics.ErrorType(error);
        Log.CallRetried(logger, route ?? string.Empty, _endpoint, errorType, attempt + 1, delay);
        if (Activity.Current is { } span && span.Source == IpcDiagnostics.ActivitySource)
        {
            span.AddEvent(new ActivityEvent("ipc.retry", tags: new ActivityTagsCollection { ["error.type"] = errorType, ["ipc.retry.attempt"] = attempt + 1 }));
        }

        if (Metrics.Retries.Enabled)
        {
            var tags = new TagList
            {
                { "rpc.service", _endpoint },
                { "rpc.method", route },
                { "error.type", errorType },
                { "server.address", _serverAddress },
                { "network.transport", _networkTransport },
            };
            AddServerPort(ref tags);
            Metrics.Retries.Add(1, tags);
        }
    }

    /// <summary>Adds <c>server.port</c> when the endpoint's address has one, as every call metric does.</summary>
    private void AddServerPort(ref TagList tags)
    {
        if (_serverPort > 0)
        {
            tags.Add("server.port", _serverPort);
        }
    }

    /// <summary>Counts accepted one-way messages that never reached a handler.</summary>
    public void CountDropped(string route, int count)
    {
        if (Metrics.ServerMessageFailed.Enabled)
        {
            var tags = Tags(IpcOperation.Process, ServerRoute(route));
            Metrics.ServerMessageFailed.Add(count, tags);
        }
    }

    /// <summary>Records a call's duration (when <paramref name="started"/> says its histogram was listened to).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // one check on every call while nothing listens
    public void RecordDuration(Histogram<double> duration, long started, IpcOperation operation, string route, string? errorType)
    {
        if (started != 0)
        {
            RecordDurationCore(duration, started, operation, IsServer(duration) ? ServerRoute(route) : route, errorType);
        }
    }

    /// <summary>Counts messages and their body bytes on a pair of counters, when they are listened to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Count(Counter<long> messages, Counter<long> bytes, IpcOperation operation, string route, int count, long size)
    {
        if (messages.Enabled || bytes.Enabled)
        {
            CountCore(messages, bytes, operation, IsServer(messages) ? ServerRoute(route) : route, count, size);
        }
    }

    private void RecordDurationCore(Histogram<double> duration, long started, IpcOperation operation, string route, string? errorType)
    {
        var tags = Tags(operation, route);
        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
        }

        duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
    }

    private void CountCore(Counter<long> messages, Counter<long> bytes, IpcOperation operation, string route, int count, long size)
    {
        var tags = Tags(operation, route);
        messages.Add(count, tags);
        bytes.Add(size, tags);
    }

    /// <summary>Starts the client span of a call, and stamps the trace context on its message.</summary>
    public Activity? StartClient(IpcMessage message, IpcOperation operation)
    {
        var activity = IpcDiagnostics.ActivitySource.HasListeners()
            ? IpcDiagnostics.ActivitySource.StartActivity(SpanName(operation, message.Route), operation is IpcOperation.Send or IpcOperation.Publish ? ActivityKind.Producer : ActivityKind.Client)
            : null;
        if (activity is { IsAllDataRequested: true })
        {
            SetTags(activity, operation, message);
        }

        IpcDiagnostics.Inject(activity ?? Activity.Current, message);
        return activity;
    }

    /// <summary>
    /// Starts the client span of a batch: each message gets a <c>create</c> span whose trace context it carries, and the
    /// batch's <c>send</c> span links to them all.
    /// </summary>
    public Activity? StartClientBatch(IReadOnlyList<IpcMessage> messages)
    {
        if (!IpcDiagnostics.ActivitySource.HasListeners())
        {
            foreach (var message in Activity.Current is null ? [] : messages)
            {
                IpcDiagnostics.Inject(Activity.Current, message);
            }

            return null;
        }

        var links = new List<ActivityLink>(messages.Count);
        foreach (var message in messages)
        {
            using var create = IpcDiagnostics.ActivitySource.StartActivity($"create {message.Route}", ActivityKind.Producer);
            if (create is null)
            {
                IpcDiagnostics.Inject(Activity.Current, message);
                continue;
            }

            if (create.IsAllDataRequested)
            {
                SetTags(create, IpcOperation.Send, message);
                create.SetTag("messaging.operation.type", "create");
                create.SetTag("messaging.operation.name", "create");
            }

            IpcDiagnostics.Inject(create, message);
            links.Add(new ActivityLink(create.Context));
        }

        var batch = IpcDiagnostics.ActivitySource.StartActivity(ActivityKind.Client, default(ActivityContext), tags: null, links, name: SpanName(IpcOperation.SendBatch, messages[0].Route));
        if (batch is { IsAllDataRequested: true })
        {
            SetTags(batch, IpcOperation.SendBatch, messages[0]);
            batch.SetTag("messaging.batch.message_count", messages.Count);
        }

        return batch;
    }

    /// <summary>Starts the server span of a call, continuing the trace its message carries.</summary>
    public Activity? StartServer(IpcMessage message, IpcOperation operation)
    {
        if (!IpcDiagnostics.ActivitySource.HasListeners())
        {
            return null;
        }

        var known = _serverRoutes.Contains(message.Route);
        var route = known ? message.Route : OtherRoute;
        var activity = IpcDiagnostics.ActivitySource.StartActivity(
            SpanName(operation, route),
            operation == IpcOperation.Process ? ActivityKind.Consumer : ActivityKind.Server,
            IpcDiagnostics.Extract(message));
        if (activity is { IsAllDataRequested: true })
        {
            SetTags(activity, operation, message, route);
            if (!known)
            {
                activity.SetTag(operation is IpcOperation.Request or IpcOperation.Stream ? "rpc.method_original" : "ipc.route_original", message.Route);
            }

            if (message.RemoteAddress is { } remote)
            {
                SetClientTags(activity, remote);
            }
        }

        return activity;
    }

    /// <summary>Sets <c>client.address</c> and <c>client.port</c> from a peer as the server's transport names it.</summary>
    internal static void SetClientTags(Activity activity, string remoteAddress)
    {
        var (address, port) = ClientAddress(remoteAddress);
        activity.SetTag("client.address", address);
        if (port > 0)
        {
            activity.SetTag("client.port", port);
        }
    }

    /// <summary>
    /// Splits a peer into <c>client.address</c> and <c>client.port</c>: <c>ip:port</c> and <c>[ipv6]:port</c> into their
    /// parts (brackets dropped); anything else (<c>pid=… uid=…</c>, a pipe name) is the address as it is, with no port.
    /// </summary>
    internal static (string Address, int Port) ClientAddress(string remoteAddress)
    {
        var colon = remoteAddress.LastIndexOf(':');
        if (colon > 0
            && int.TryParse(remoteAddress.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            && port is > 0 and <= 65535)
        {
            var host = remoteAddress.AsSpan(0, colon);
            if (host is ['[', .., ']'])
            {
                return (host[1..^1].ToString(), port);
            }

            if (!host.Contains(':') && !host.Contains(' '))
            {
                return (host.ToString(), port);
            }
        }

        return (remoteAddress, 0);
    }

    private string SpanName(IpcOperation operation, string route) => operation switch
    {
        IpcOperation.Request or IpcOperation.Stream => $"{_endpoint}/{route}",
        IpcOperation.Publish => $"publish {route}",
        IpcOperation.Process => $"process {route}",
        _ => $"send {route}",
    };

    private void SetTags(Activity activity, IpcOperation operation, IpcMessage message, string? route = null)
    {
        foreach (var tag in Tags(operation, route ?? message.Route))
        {
            activity.SetTag(tag.Key, tag.Value);
        }

        if (operation is IpcOperation.Request or IpcOperation.Stream)
        {
            activity.SetTag("ipc.message.id", message.MessageId);
            activity.SetTag("ipc.correlation.id", message.CorrelationId);
        }
        else
        {
            activity.SetTag("messaging.message.id", message.MessageId);
            activity.SetTag("messaging.message.conversation_id", message.CorrelationId);
        }
    }

    /// <summary>Whether an instrument is a server's: its measurements tag routes a peer sent.</summary>
    private static bool IsServer(Instrument instrument) => instrument.Name.StartsWith("ipc.server.", StringComparison.Ordinal);

    private TagList Tags(IpcOperation operation, string route)
    {
        var tags = default(TagList);
        if (operation is IpcOperation.Request or IpcOperation.Stream)
        {
            tags.Add("rpc.system", "ipc");
            tags.Add("rpc.service", _endpoint);
            tags.Add("rpc.method", route);
        }
        else
        {
            tags.Add("messaging.system", "ipc");
            tags.Add("messaging.operation.type", operation == IpcOperation.Process ? "process" : "send");
            tags.Add("messaging.operation.name", operation switch
            {
                IpcOperation.Publish => "publish",
                IpcOperation.SendBatch => "send_batch",
                IpcOperation.Process => "process",
                _ => "send",
            });
            tags.Add("messaging.destination.name", route);
            tags.Add("ipc.endpoint", _endpoint);
        }

        tags.Add("server.address", _serverAddress);
        if (_serverPort > 0)
        {
            tags.Add("server.port", _serverPort);
        }

        tags.Add("network.transport", _networkTransport);
        return tags;
    }

    /// <summary>The <c>server.address</c> (and <c>server.port</c>) of an address: its host, else its path or name.</summary>
    internal static (string Address, int Port) ServerAddress(Uri address)
    {
        if (!string.IsNullOrEmpty(address.Host))
        {
            return (address.Host, address.IsDefaultPort ? 0 : address.Port);
        }

        var path = Uri.UnescapeDataString(address.AbsolutePath);
        return (path is "" or "/" ? AddressText.Redact(address) : path, 0);
    }

    /// <summary>The <c>network.transport</c> of an address scheme: OpenTelemetry's well-known values where they apply.</summary>
    internal static string NetworkTransport(string scheme) => scheme.ToLowerInvariant() switch
    {
        "tcp" or "http" or "https" or "grpc" or "grpcs" or "amqp" or "amqps" => "tcp",
        "unix" => "unix",
        "pipe" or "worker" => "pipe",
        "inmemory" => "inproc",
        var other => other,
    };
}
