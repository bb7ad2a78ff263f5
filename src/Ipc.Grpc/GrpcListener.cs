using System.Net;
using System.Security.Cryptography.X509Certificates;
using Ipc.Tls;
using Ipc.Transports;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Grpc;

/// <summary>
/// A server on a Kestrel of its own (HTTP/2; over TLS for <c>grpcs://</c>), for an app with no web host: the envelope
/// service, and the health and reflection services unless turned off.
/// </summary>
internal sealed partial class GrpcListener(IpcTransportContext context, GrpcTransportOptions options) : IIpcTransportListener
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILoggerFactory _loggers = context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
    private WebApplication? _app;

    public async ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatcher);
        if (_app is not null)
        {
            throw new InvalidOperationException("A gRPC listener can be started once.");
        }

        var secure = GrpcTransport.IsSecure(context.Address);
        var logger = _loggers.CreateLogger("Ipc.Grpc");
        var tls = secure ? new GrpcTls(options.Tls, context.EndpointName, context.TimeProvider, logger) : null;
        var certificate = tls?.LoadServerCertificate(context.EndpointName);
        var endpoint = await ResolveAsync(context.Address, cancellationToken).ConfigureAwait(false);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(GrpcListener).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
            kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxConcurrentCallsPerConnection;
            kestrel.Limits.Http2.KeepAlivePingDelay = options.KeepAlivePingDelay;
            kestrel.Limits.Http2.KeepAlivePingTimeout = options.KeepAlivePingTimeout;
            kestrel.Listen(endpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    listen.UseHttps(new HttpsConnectionAdapterOptions
                    {
                        ServerCertificate = certificate.Current,

                        // A certificate from a file is asked for at each handshake, so a renewed file serves new connections.
                        OnAuthenticate = certificate.Reloads ? (_, ssl) => ssl.ServerCertificateContext = certificate.CurrentContext : null,
                        CheckCertificateRevocation = options.Tls.CheckCertificateRevocation,

                        // Any client certificate passes the handshake; a bad or missing one is refused on its first call with
                        // Unauthenticated, so the client is told why instead of seeing a bare TLS alert.
                        ClientCertificateMode = options.Tls.ClientCertificateRequired ? ClientCertificateMode.AllowCertificate : ClientCertificateMode.NoCertificate,
                        ClientCertificateValidation = static (_, _, _) => true,
                    });
                }
            });
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddSingleton(_loggers);
        builder.Services.AddRoutingCore();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = GrpcTransport.WireLimit(dispatcher.MaxMessageSize);
            grpc.MaxSendMessageSize = GrpcTransport.WireLimit(dispatcher.MaxMessageSize);
        });
        var target = new GrpcServerTarget(dispatcher, logger, _stopping.Token);
        builder.Services.AddSingleton(new GrpcIpcService(() => target));
        if (options.EnableHealthService)
        {
            // The app's own health checks answer, when it has them.
            if (context.Services.GetService<HealthCheckService>() is { } health)
            {
                builder.Services.AddSingleton(health);
            }

            builder.Services.AddGrpcHealthChecks(health => health.Services.Map("ipc.v1.IpcService", _ => true));
        }

        if (options.EnableReflection)
        {
            builder.Services.AddGrpcReflection();
        }

        var app = builder.Build();
        if (tls is not null && options.Tls.ClientCertificateRequired)
        {
            Func<X509Certificate2?, string?> validate = tls.ValidateClient;
            Action<string> refused = reason => Log.ClientCertificateRefused(logger, context.EndpointName, context.DisplayAddress, reason);
            app.Use((http, next) => RefuseUntrustedClientAsync(http, next, validate, refused));
        }

        app.MapGrpcService<GrpcIpcService>();
        if (options.EnableHealthService)
        {
            app.MapGrpcHealthChecksService();
        }

        if (options.EnableReflection)
        {
            app.MapGrpcReflectionService();
        }

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            var why = ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException
                ? $"the address {endpoint} is already in use. Stop the server that holds it, or choose another port."
                : $"binding {endpoint} failed: {ex.Message}";
            throw new IpcException(IpcErrorCode.Unavailable, $"Endpoint '{context.EndpointName}' cannot listen on {context.DisplayAddress}: {why}", ex)
            {
                Endpoint = context.EndpointName,
            };
        }

        _app = app;
    }

    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        // Running handlers see their token cancelled and their callers get Unavailable at once; then Kestrel closes.
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _app, null) is { } app)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private Task RefuseUntrustedClientAsync(HttpContext http, RequestDelegate next, Func<X509Certificate2?, string?> validate, Action<string> refused)
    {
        var refusal = ClientCertificateCheck.Judge(http, validate, refused);
        if (refusal is null)
        {
            return next(http);
        }

        // A trailers-only gRPC answer. The details of what this server trusts are for its log, not for an unauthenticated client.
        var message = http.Connection.ClientCertificate is { } presented
            ? $"Endpoint '{context.EndpointName}' does not accept the client certificate {presented.Subject}."
            : $"Endpoint '{context.EndpointName}' requires a client certificate (mutual TLS), and none was presented.";
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/grpc";
        http.Response.Headers["grpc-status"] = ((int)global::Grpc.Core.StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
        return Task.CompletedTask;
    }

    private static async Task<IPEndPoint> ResolveAsync(Uri address, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(address.DnsSafeHost, out var ip))
        {
            return new IPEndPoint(ip, address.Port);
        }

        var addresses = await Dns.GetHostAddressesAsync(address.DnsSafeHost, cancellationToken).ConfigureAwait(false);
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new IpcException(IpcErrorCode.Unavailable, $"The host of {address} resolves to no address.");
        return new IPEndPoint(chosen, address.Port);
    }
}
