using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Grpc.Net.ClientFactory;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Ipc.Grpc;

/// <summary>The transport context of each endpoint whose client is being created, by client name, for the factory's options below.</summary>
internal sealed class GrpcClientContexts
{
    private readonly ConcurrentDictionary<string, IpcTransportContext> _contexts = new(StringComparer.Ordinal);

    public void Set(string name, IpcTransportContext context) => _contexts[name] = context;

    public bool TryGet(string name, out IpcTransportContext context) => _contexts.TryGetValue(name, out context!);

    /// <summary>The TLS settings of the endpoint's handler, whose last refusal of a server certificate a failed call reports.</summary>
    public GrpcTls? Tls(string name) => _tls.TryGetValue(name, out var tls) ? tls : null;

    public void SetTls(string name, GrpcTls tls) => _tls[name] = tls;

    private readonly ConcurrentDictionary<string, GrpcTls> _tls = new(StringComparer.Ordinal);
}

/// <summary>
/// Configures the Grpc.Net.ClientFactory client of each endpoint: its address, message size limits, and the HTTP/2 handler
/// (several connections, keep-alive pings, connect timeout, TLS). A user's own <c>ConfigureGrpcClient</c> settings (interceptors,
/// call credentials, another handler) are applied after these.
/// </summary>
internal sealed class GrpcClientSetup(GrpcClientContexts contexts, IOptionsMonitor<GrpcTransportOptions> transportOptions)
    : IConfigureNamedOptions<GrpcClientFactoryOptions>, IConfigureNamedOptions<HttpClientFactoryOptions>
{
    public void Configure(string? name, GrpcClientFactoryOptions options)
    {
        if (name is null || !contexts.TryGet(name, out var context))
        {
            return;
        }

        options.Address = GrpcTransport.HttpAddress(context.Address);
        options.ChannelOptionsActions.Add(channel =>
        {
            channel.MaxReceiveMessageSize = GrpcTransport.WireLimit(context.MaxMessageSize);
            channel.MaxSendMessageSize = GrpcTransport.WireLimit(context.MaxMessageSize);
            channel.ThrowOperationCanceledOnCancellation = true;
            channel.MaxRetryAttempts = 0; // the runtime's resilience pipeline retries, the same way for every transport
        });
    }

    public void Configure(string? name, HttpClientFactoryOptions options)
    {
        if (name is null || !contexts.TryGet(name, out var context))
        {
            return;
        }

        var transport = transportOptions.Get(context.EndpointName);
        options.HttpMessageHandlerBuilderActions.Add(builder => builder.PrimaryHandler = CreateHandler(name, context, transport));
        if (GrpcTransport.IsSecure(context.Address) && transport.Tls.TargetHost is { } targetHost)
        {
            // SocketsHttpHandler sends as SNI, and expects in the server certificate, the host of the request's Host header
            // (the HTTP/2 :authority), not SslOptions.TargetHost: the name goes there.
            var authority = new UriBuilder(Uri.UriSchemeHttps, targetHost, context.Address.Port).Uri.Authority;
            options.HttpMessageHandlerBuilderActions.Add(builder => builder.AdditionalHandlers.Add(new AuthorityHandler(authority)));
        }

        HttpClientLogging.RemoveDefaultLoggers(name, options); // the runtime logs its calls; AddDefaultLogger() brings these back

        // The channel holds its handler for the endpoint's lifetime: one set of HTTP/2 connections per endpoint.
        options.HandlerLifetime = Timeout.InfiniteTimeSpan;
    }

    public void Configure(GrpcClientFactoryOptions options) => Configure(Options.DefaultName, options);

    public void Configure(HttpClientFactoryOptions options) => Configure(Options.DefaultName, options);

    private SocketsHttpHandler CreateHandler(string name, IpcTransportContext context, GrpcTransportOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = options.EnableMultipleHttp2Connections,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            ConnectTimeout = context.ConnectTimeout,

            // A connect of its own, as well, keeps the channel off its subchannel machinery, whose reconnect backoff would
            // fail calls to a server that has just come back; the runtime's resilience pipeline decides when to try again.
            ConnectCallback = ConnectAsync,

            // The runtime puts the W3C trace context in the message's headers, which travel as metadata: the handler adds none of its own.
            ActivityHeadersPropagator = DistributedContextPropagator.CreateNoOutputPropagator(),
        };
        if (GrpcTransport.IsSecure(context.Address))
        {
            var logger = context.Services.GetService<ILoggerFactory>()?.CreateLogger("Ipc.Grpc") ?? NullLogger.Instance;
            var tls = new GrpcTls(options.Tls, context.EndpointName, context.TimeProvider, logger);
            contexts.SetTls(name, tls);
            handler.SslOptions = tls.ClientOptions(context.Address.DnsSafeHost);
        }

        return handler;
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext connection, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(connection.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends each call with the authority (Host) of <see cref="GrpcTlsOptions.TargetHost"/>.</summary>
    private sealed class AuthorityHandler(string authority) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Host = authority;
            return base.SendAsync(request, cancellationToken);
        }
    }
}
