using System.Collections.Frozen;
using System.Diagnostics;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Diagnostics;

/// <summary>
/// What a transport reports about its connections and the messages it drops, for one endpoint and one side: the
/// runtime turns it into metrics on the <see cref="IpcDiagnostics.MeterName"/> meter and Debug logs of each connection's
/// lifecycle, the same for every transport.
/// </summary>
/// <remarks>
/// A transport creates one with <see cref="ForClient"/> or <see cref="ForServer"/> per client or listener. Every member
/// is thread-safe and cheap while nothing listens. Calls (requests, sends, streams) are measured by the runtime; a
/// transport reports only what the runtime cannot see.
/// </remarks>
public sealed class IpcTransportTelemetry
{
    private readonly IpcMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string _endpoint;
    private readonly string _side;
    private readonly TagList _tags;
    private readonly FrozenSet<string> _serverRoutes;
    private readonly string _serverAddress;
    private readonly int _serverPort;
    private readonly string _networkTransport;

    private IpcTransportTelemetry(IpcTransportContext context, string side)
    {
        ArgumentNullException.ThrowIfNull(context);
        _metrics = context.Services.GetService<IpcMetrics>() ?? IpcMetrics.Shared;
        _logger = (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Connections");
        _endpoint = context.EndpointName;
        _side = side;

        // The routes of dropped messages are tagged as the server's own metrics tag them: one its server does not map is _OTHER.
        _serverRoutes = side != "server" ? FrozenSet<string>.Empty : EndpointTelemetry.RoutesServed(context.Services.GetServices<Server.IpcServerDefinition>(), context.EndpointName)?.ToFrozenSet(StringComparer.Ordinal) ?? FrozenSet<string>.Empty;
        (_serverAddress, _serverPort) = EndpointTelemetry.ServerAddress(context.Address);
        _networkTransport = EndpointTelemetry.NetworkTransport(context.Address.Scheme);
        _tags = new TagList
        {
            { "ipc.endpoint", context.EndpointName },
            { "ipc.connection.side", side },
            { "server.address", _serverAddress },
            { "network.transport", _networkTransport },
        };
        if (_serverPort > 0)
        {
            _tags.Add("server.port", _serverPort);
        }
    }

    /// <summary>Creates the telemetry of a transport client (<c>ipc.connection.side</c> = <c>client</c>) of the context's endpoint.</summary>
    public static IpcTransportTelemetry ForClient(IpcTransportContext context) => new(context, "client");

    /// <summary>Creates the telemetry of a transport listener (<c>ipc.connection.side</c> = <c>server</c>) of the context's endpoint.</summary>
    public static IpcTransportTelemetry ForServer(IpcTransportContext context) => new(context, "server");

    /// <summary>Reports a connection that opened (after its handshake); returns the value to pass to <see cref="ConnectionClosed"/>.</summary>
    /// <param name="connection">Describes the connection in logs.</param>
    /// <returns>The time the connection opened.</returns>
    public long ConnectionOpened(string connection)
    {
        _metrics.ActiveConnections.Add(1, _tags);
        Log.ConnectionOpened(_logger, connection, _endpoint, _side);
        return Stopwatch.GetTimestamp();
    }

    /// <summary>Reports a connection that <see cref="ConnectionOpened"/> reported, closed.</summary>
    /// <param name="connection">Describes the connection in logs.</param>
    /// <param name="opened">What <see cref="ConnectionOpened"/> returned.</param>
    /// <param name="reason">Why it closed, when it was not an orderly close (logged at Debug).</param>
    public void ConnectionClosed(string connection, long opened, Exception? reason = null)
    {
        _metrics.ActiveConnections.Add(-1, _tags);
        var duration = Stopwatch.GetElapsedTime(opened);
        _metrics.ConnectionDuration.Record(duration.TotalSeconds, _tags); // the reason goes to the log: a disposed client or a peer that hung up is no error

        Log.ConnectionClosed(_logger, connection, duration, reason?.Message ?? "closed in order");
    }

    /// <summary>Reports a client that opens a connection again in place of one it lost.</summary>
    public void Reconnecting() => _metrics.Reconnects.Add(1, _tags);

    /// <summary>Reports a connection's reader thread replaced because work held it for too long.</summary>
    public void ReaderReplaced() => _metrics.ReaderReplacements.Add(1, _tags);

    /// <summary>Reports accepted one-way messages of <paramref name="route"/> that never reached a handler (the server stopped, say).</summary>
    /// <param name="route">The messages' route; one the endpoint's server does not map is counted as <c>_OTHER</c>.</param>
    /// <param name="count">How many.</param>
    public void MessagesDropped(string route, int count)
    {
        ArgumentNullException.ThrowIfNull(route);
        if (_metrics.ServerMessageFailed.Enabled)
        {
            // The tags the dispatcher gives the messages whose handler failed, so one query sees both.
            var tags = new TagList
            {
                { "messaging.system", "ipc" },
                { "messaging.operation.type", "process" },
                { "messaging.operation.name", "process" },
                { "messaging.destination.name", _serverRoutes.Contains(route) ? route : EndpointTelemetry.OtherRoute },
                { "ipc.endpoint", _endpoint },
                { "server.address", _serverAddress },
                { "network.transport", _networkTransport },
            };
            if (_serverPort > 0)
            {
                tags.Add("server.port", _serverPort);
            }

            _metrics.ServerMessageFailed.Add(count, tags);
        }
    }
}
