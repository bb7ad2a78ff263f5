using System.Net;
using Ipc;
using Ipc.Http;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

[assembly: IpcTransportRegistration(typeof(HttpTransportRegistration))]

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the HTTP transport (<c>http://</c>, <c>https://</c>) on an <see cref="IIpcBuilder"/>.</summary>
/// <remarks>
/// Referencing the Ipc.Http package is enough: <c>AddIpc(...)</c> finds and calls this. Call it yourself to configure the
/// options in code. It also adds <c>IHttpClientFactory</c>, health checks (<c>AddHealthChecks</c>) and, on .NET 10, the
/// OpenAPI document of the Ipc routes.
/// </remarks>
public static class HttpIpcBuilderExtensions
{
    private const string ClientNamePrefix = "Ipc.Http:";

    /// <summary>Registers the HTTP transport and binds <see cref="HttpTransportOptions"/> from <c>Ipc:Transports:Http</c> and <c>Ipc:Endpoints:&lt;name&gt;:Http</c>.</summary>
    public static IIpcBuilder AddHttp(this IIpcBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddTransport<HttpTransport>();
        builder.BindTransportOptions<HttpTransportOptions>(HttpTransportOptions.SectionName);
        var services = builder.Services;
        services.AddOptions<HttpTransportOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpTransportOptions>, HttpTransportOptionsValidator>());
        services.AddHttpClient();
        services.TryAddSingleton<HttpClientTlsRefusals>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<HttpClientFactoryOptions>, IpcHttpClientConfigurator>());
        services.AddHealthChecks();
#if NET9_0_OR_GREATER
        HttpIpcBuilderExtensionsCore.AddIpcOpenApi(services);
#endif
        return builder;
    }

    /// <summary>Registers the HTTP transport and configures the options of every endpoint (after configuration binding).</summary>
    public static IIpcBuilder AddHttp(this IIpcBuilder builder, Action<HttpTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddHttp(builder);
        builder.Services.ConfigureAll(configure);
        return builder;
    }

    /// <summary>
    /// Gets the name of the <see cref="HttpClient"/> the client of <paramref name="endpointName"/> is created with, so the
    /// app can add its own handlers: <c>services.AddHttpClient(HttpIpcBuilderExtensions.HttpClientName("calculator")).AddHttpMessageHandler&lt;MyHandler&gt;()</c>.
    /// </summary>
    /// <returns><c>Ipc.Http:</c> followed by the endpoint's name.</returns>
    public static string HttpClientName(string endpointName)
    {
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        return ClientNamePrefix + endpointName;
    }

    /// <summary>Gives the named client of each endpoint its primary handler, from the endpoint's options.</summary>
    private sealed class IpcHttpClientConfigurator(IServiceProvider services) : IConfigureNamedOptions<HttpClientFactoryOptions>
    {
        public void Configure(HttpClientFactoryOptions options) => Configure(Microsoft.Extensions.Options.Options.DefaultName, options);

        public void Configure(string? name, HttpClientFactoryOptions options)
        {
            if (name is null || !name.StartsWith(ClientNamePrefix, StringComparison.Ordinal))
            {
                return;
            }

            var endpointName = name[ClientNamePrefix.Length..];
            options.HttpClientActions.Add(client => client.Timeout = Timeout.InfiniteTimeSpan); // the Ipc call's own timeouts govern
            options.HttpMessageHandlerBuilderActions.Add(handler => handler.PrimaryHandler = CreateHandler(endpointName));
            HttpClientLogging.RemoveDefaultLoggers(name, options); // the runtime logs its calls; AddDefaultLogger() brings these back
        }

        private SocketsHttpHandler CreateHandler(string endpointName)
        {
            var options = services.GetRequiredService<IOptionsMonitor<HttpTransportOptions>>().Get(endpointName);
            var ipc = services.GetRequiredService<IOptions<IpcOptions>>().Value;
            var connectTimeout = ipc.Endpoints.TryGetValue(endpointName, out var endpoint) ? endpoint.ConnectTimeout : TimeSpan.FromSeconds(5);
            var handler = new SocketsHttpHandler
            {
                ConnectTimeout = connectTimeout,
                MaxConnectionsPerServer = options.MaxConnectionsPerServer,
                AutomaticDecompression = options.AcceptCompressedResponses ? DecompressionMethods.All : DecompressionMethods.None,
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
                UseCookies = false,
                AllowAutoRedirect = false,
            };
            var logger = services.GetService<ILoggerFactory>()?.CreateLogger("Ipc.Http") ?? NullLogger.Instance;
            var tls = new HttpTls(options.Tls, endpointName, services.GetService<TimeProvider>() ?? TimeProvider.System, logger);
            tls.PresentClientCertificate(handler.SslOptions);

            handler.SslOptions.CertificateRevocationCheckMode = tls.RevocationMode;
            if (options.Tls.CertificateAuthorityPath is not null || options.Tls.AllowedThumbprints.Count > 0)
            {
                var refusals = services.GetRequiredService<HttpClientTlsRefusals>();
                handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    var refusal = tls.Validate(certificate, errors, checkName: true);
                    refusals.Record(endpointName, refusal);
                    return refusal is null;
                };
            }

            return handler;
        }
    }
}
