using Ipc;
using Ipc.Grpc;
using Ipc.Grpc.Protocol;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Grpc.AspNetCore.Server;
using Grpc.Net.ClientFactory;

[assembly: IpcTransportRegistration(typeof(GrpcTransportRegistration))]

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the gRPC transport (<c>grpc://</c>, <c>grpcs://</c>) on an <see cref="IIpcBuilder"/>.</summary>
/// <remarks>Referencing the Ipc.Grpc package is enough: <c>AddIpc(...)</c> finds and calls this. Call it yourself to configure the options in code.</remarks>
public static class GrpcIpcBuilderExtensions
{
    /// <summary>
    /// Registers the gRPC transport and binds <see cref="GrpcTransportOptions"/> from <c>Ipc:Transports:Grpc</c> and
    /// <c>Ipc:Endpoints:&lt;name&gt;:Grpc</c>. Also registers gRPC's server services, so that an ASP.NET Core app can map an
    /// endpoint with <c>MapIpcGrpc</c>.
    /// </summary>
    public static IIpcBuilder AddGrpc(this IIpcBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Services.Any(s => s.ServiceType == typeof(GrpcClientContexts)))
        {
            return builder;
        }

        builder.AddTransport<GrpcTransport>();
        builder.BindTransportOptions<GrpcTransportOptions>(GrpcTransportOptions.SectionName);
        builder.Services.AddOptions<GrpcTransportOptions>().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GrpcTransportOptions>, GrpcTransportOptionsValidator>());

        // Client: one Grpc.Net.ClientFactory client per endpoint, named Ipc.Grpc:<endpoint>.
        builder.Services.AddSingleton<GrpcClientContexts>();
        builder.Services.AddSingleton<GrpcClientSetup>();
        builder.Services.AddSingleton<IConfigureOptions<GrpcClientFactoryOptions>>(s => s.GetRequiredService<GrpcClientSetup>());
        builder.Services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>>(s => s.GetRequiredService<GrpcClientSetup>());
        builder.Services.AddGrpcClient<IpcService.IpcServiceClient>();

        // Server inside an ASP.NET Core app: MapIpcGrpc picks the endpoint this service serves.
        builder.Services.AddGrpc();
        builder.Services.TryAddSingleton<GrpcHostedEndpoint>();
        builder.Services.AddSingleton<IConfigureOptions<GrpcServiceOptions<GrpcIpcService>>>(s => new ConfigureOptions<GrpcServiceOptions<GrpcIpcService>>(grpc =>
        {
            // Read when MapIpcGrpc maps the service, once it has attached the endpoint: the endpoint's limit plus the envelope.
            if (s.GetRequiredService<GrpcHostedEndpoint>().Attached is { } server)
            {
                grpc.MaxReceiveMessageSize = GrpcTransport.WireLimit(server.Dispatcher.MaxMessageSize);
                grpc.MaxSendMessageSize = GrpcTransport.WireLimit(server.Dispatcher.MaxMessageSize);
            }
        }));
        builder.Services.TryAddSingleton(s =>
        {
            var hosted = s.GetRequiredService<GrpcHostedEndpoint>();
            var logger = (s.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Grpc");
            return new GrpcIpcService(() => new GrpcServerTarget(hosted.Server.Dispatcher, logger));
        });
        return builder;
    }

    /// <summary>Registers the gRPC transport and configures the options of every endpoint (after configuration binding).</summary>
    public static IIpcBuilder AddGrpc(this IIpcBuilder builder, Action<GrpcTransportOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddGrpc(builder);
        builder.Services.ConfigureAll(configure);
        return builder;
    }

    /// <summary>
    /// Returns the Grpc.Net.ClientFactory builder of the client of <paramref name="endpointName"/>, to add interceptors
    /// (<c>AddInterceptor</c>), call credentials (<c>AddCallCredentials</c>), channel settings (<c>ConfigureChannel</c>) or
    /// HTTP handlers. What it configures applies after the transport's own settings.
    /// </summary>
    /// <param name="builder">The Ipc builder.</param>
    /// <param name="endpointName">The endpoint whose client to configure.</param>
    public static IHttpClientBuilder ConfigureGrpcClient(this IIpcBuilder builder, string endpointName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        AddGrpc(builder);
        return builder.Services.AddGrpcClient<IpcService.IpcServiceClient>(GrpcTransport.ClientName(endpointName));
    }
}
