using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Ipc.Diagnostics;
using Ipc.Serialization;
using Ipc.Tls;
using Ipc.Transports;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Http;

/// <summary>
/// The server of an endpoint no web host serves: a Kestrel of its own on the address, HTTP/1.1 and HTTP/2, TLS and mutual
/// TLS on <c>https://</c>, with the same mapping <c>MapIpc</c> puts into an app.
/// </summary>
internal sealed class HttpTransportListener(IpcTransportContext context, HttpTransportOptions options) : IIpcTransportListener
{
    private WebApplication? _app;
    private HttpIpcServer? _server;

    public async ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatcher);
        var address = context.Address;
        var https = string.Equals(address.Scheme, Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase);
        var logger = context.Services.GetService<ILoggerFactory>()?.CreateLogger("Ipc.Http") ?? NullLogger.Instance;
        var tls = https ? new HttpTls(options.Tls, context.EndpointName, context.TimeProvider, logger) : null;
        var certificate = tls?.ServerCertificate(context.EndpointName);
        var endpoints = await ResolveAsync(address, cancellationToken).ConfigureAwait(false);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(HttpTransportListener).Assembly.GetName().Name });
        if (context.Services.GetService<ILoggerFactory>() is { } loggers)
        {
            builder.Services.AddSingleton(loggers);
        }

        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = dispatcher.MaxMessageSize;
            kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
            foreach (var endpoint in endpoints)
            {
                kestrel.Listen(endpoint, listen =>
                {
                    listen.Protocols = https ? HttpProtocols.Http1AndHttp2 : ClearTextProtocols(options);
                    if (certificate is not null)
                    {
                        listen.UseHttps(new HttpsConnectionAdapterOptions
                        {
                            ServerCertificate = certificate.Current,

                            // A certificate from a file is asked for at each handshake, so a renewed file serves new connections.
                            OnAuthenticate = certificate.Reloads ? (_, ssl) => ssl.ServerCertificateContext = certificate.CurrentContext : null,
                            ClientCertificateMode = options.Tls.ClientCertificateRequired ? ClientCertificateMode.AllowCertificate : ClientCertificateMode.NoCertificate,
                            CheckCertificateRevocation = options.Tls.CheckCertificateRevocation,
                            SslProtocols = SslProtocols.None,

                            // Any certificate completes the handshake; a refused one is answered 401 with the reason below,
                            // so the caller learns why (Unauthorized) instead of seeing a bare TLS alert.
                            ClientCertificateValidation = (_, _, _) => true,
                        });
                    }
                });
            }
        });
        builder.Services.AddRouting();
        if (options.ResponseCompression)
        {
            builder.Services.AddResponseCompression(o =>
            {
                o.EnableForHttps = true;

                // ASP.NET Core's list has JSON and text, not MessagePack, the body most Ipc clients read. Streams stay out:
                // each item is flushed as it comes, and a compressor's flush per small item adds more than it saves.
                o.MimeTypes = [.. ResponseCompressionDefaults.MimeTypes, MessagePackIpcSerializer.MediaType];
            });
        }

#if NET9_0_OR_GREATER
        if (options.MapOpenApi)
        {
            HttpIpcBuilderExtensionsCore.AddIpcOpenApi(builder.Services);
        }
#endif

        var app = builder.Build();
        if (tls is not null && options.Tls.ClientCertificateRequired)
        {
            Func<X509Certificate2?, string?> validate = tls.ValidateClient;
            Action<string> refused = reason => Log.ClientCertificateRefused(logger, context.EndpointName, context.DisplayAddress, reason);
            app.Use(next => async http =>
            {
                var refusal = ClientCertificateCheck.Judge(http, validate, refused);
                if (refusal is null)
                {
                    await next(http).ConfigureAwait(false);
                    return;
                }

                await WriteRefusalAsync(http, refusal).ConfigureAwait(false);
            });
        }

        if (options.ResponseCompression)
        {
            app.UseResponseCompression();
        }

        _server = new HttpIpcServer(dispatcher, options, context.Services, HttpIpcServer.BasePathOf(address), IpcTransportTelemetry.ForServer(context));
        _server.Map(app);
        _app = app;
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new IpcException(IpcErrorCode.Unavailable, $"Endpoint '{context.EndpointName}' cannot listen on {context.DisplayAddress}: {ex.Message} Choose a free port, or stop what holds it.", ex) { Endpoint = context.EndpointName };
        }
    }

    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        // Cancels the request and stream handlers at once, and handles the one-way messages already accepted for the
        // endpoint's DrainTimeout at most (or until the host's token ends it) while Kestrel stops.
        var oneWay = _server?.StopAsync(cancellationToken) ?? Task.FromResult(true);
        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!await oneWay.ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested(); // the caller ended the stop before every accepted message was handled
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (_server is { } server)
        {
            await server.DisposeAsync().ConfigureAwait(false);
            _server = null;
        }

        if (_app is { } app)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    private static HttpProtocols ClearTextProtocols(HttpTransportOptions options) =>

        // Without TLS there is no ALPN: Kestrel serves HTTP/2 with prior knowledge only on an HTTP/2-only endpoint.
        options.Protocol == HttpIpcProtocol.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;

    private static async Task WriteRefusalAsync(HttpContext http, string refusal)
    {
        var body = new System.Buffers.ArrayBufferWriter<byte>(256);
        HttpWire.WriteError(body, new IpcFault(IpcErrorCode.Unauthorized, $"The server refused the client certificate: {refusal}."), withErrorCode: false);
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.ContentType = HttpWire.JsonMediaType;
        http.Response.Headers[HttpWire.ErrorCodeHeader] = nameof(IpcErrorCode.Unauthorized);
        await http.Response.BodyWriter.WriteAsync(body.WrittenMemory, http.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<IPEndPoint>> ResolveAsync(Uri address, CancellationToken cancellationToken)
    {
        var port = address.Port;
        var host = address.DnsSafeHost;
        if (host is "0.0.0.0" or "*" or "+")
        {
            return [new IPEndPoint(IPAddress.Any, port)];
        }

        if (IPAddress.TryParse(host, out var ip))
        {
            return [new IPEndPoint(ip, port)];
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return [new IPEndPoint(IPAddress.Loopback, port)];
        }

        var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        return addresses.Length == 0
            ? throw new IpcException(IpcErrorCode.Unavailable, $"The host of {address} resolves to no address.")
            : [new IPEndPoint(addresses[0], port)];
    }
}
