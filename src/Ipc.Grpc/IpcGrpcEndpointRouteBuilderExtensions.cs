using Ipc.Grpc;
using Ipc.Transports;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps an Ipc endpoint's server into an ASP.NET Core app as the gRPC envelope service (<c>ipc.v1.IpcService</c>).</summary>
public static class IpcGrpcEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Serves the server of <paramref name="endpointName"/> (registered with <c>AddServer</c>) in this app, behind its
    /// middleware, authentication and authorization, instead of on a Kestrel of its own. Call it before the app starts.
    /// The app's Kestrel must speak HTTP/2 (over TLS, or <c>Http2</c> only for plain text).
    /// </summary>
    /// <param name="endpoints">The app's route builder.</param>
    /// <param name="endpointName">The endpoint whose server to serve.</param>
    /// <returns>The service's convention builder, for <c>RequireAuthorization</c>, <c>RequireHost</c>, CORS and the like.</returns>
    /// <exception cref="InvalidOperationException">No server was registered for the endpoint, its listener already runs, or this app already maps another endpoint.</exception>
    public static GrpcServiceEndpointConventionBuilder MapIpcGrpc(this IEndpointRouteBuilder endpoints, string endpointName)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        var services = endpoints.ServiceProvider;
        var hosted = services.GetService<GrpcHostedEndpoint>()
            ?? throw new InvalidOperationException("MapIpcGrpc needs the Ipc gRPC transport: call services.AddIpc(...) in this app (it finds Ipc.Grpc), or AddIpc().AddGrpc().");
        var server = services.GetRequiredService<IIpcServerProvider>().GetServer(endpointName);
        server.MarkHostedExternally(); // before the host starts: its hosted service then starts no listener for it
        hosted.Attach(server);
        return endpoints.MapGrpcService<GrpcIpcService>();
    }
}
