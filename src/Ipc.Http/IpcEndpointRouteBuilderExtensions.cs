using Ipc.Diagnostics;
using Ipc.Http;
using Ipc.Transports;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps an Ipc server into an ASP.NET Core app.</summary>
public static class IpcEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the server of <paramref name="endpointName"/> (registered with <c>AddServer</c>) into the app: <c>POST {base}/{route}</c>
    /// for each route, <c>GET {base}/health</c> and <c>GET {base}/openapi.json</c>. The server then starts no listener of its own.
    /// When the app stops, the server refuses new one-way messages and the app's host waits for those it accepted, for the
    /// endpoint's <c>DrainTimeout</c> at most, within the host's <c>ShutdownTimeout</c>.
    /// </summary>
    /// <param name="endpoints">The app's route builder.</param>
    /// <param name="endpointName">The endpoint whose server to map.</param>
    /// <param name="basePath">The path the routes go under; by default the path of the endpoint's <c>http://</c> address, or <c>/{endpointName}</c> for another scheme.</param>
    /// <returns>The group of the mapped endpoints, so <c>RequireAuthorization</c>, rate limiting and CORS apply to all of them.</returns>
    public static IEndpointConventionBuilder MapIpc(this IEndpointRouteBuilder endpoints, string endpointName, string? basePath = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        var services = endpoints.ServiceProvider;
        var server = services.GetRequiredService<IIpcServerProvider>().GetServer(endpointName);
        server.MarkHostedExternally();
        var dispatcher = server.Dispatcher;
        var options = services.GetRequiredService<IOptionsMonitor<HttpTransportOptions>>().Get(endpointName);

        var configured = services.GetRequiredService<IOptions<Ipc.IpcOptions>>().Value.Endpoints.TryGetValue(endpointName, out var endpoint) ? endpoint.Address : null;
        var address = configured is not null && Uri.TryCreate(configured, UriKind.Absolute, out var parsed) ? parsed : null;
        if (basePath is null)
        {
            basePath = address is not null && address.Scheme.StartsWith(Uri.UriSchemeHttp, StringComparison.OrdinalIgnoreCase)
                ? HttpIpcServer.BasePathOf(address)
                : "/" + endpointName;
        }
        else
        {
            basePath = "/" + basePath.Trim('/');
            basePath = basePath == "/" ? string.Empty : basePath;
        }

        var telemetry = address is null ? null : IpcTransportTelemetry.ForServer(new IpcTransportContext(endpointName, address, services)); // tagged as the dispatcher tags the endpoint's calls
        var http = new HttpIpcServer(dispatcher, options, services, basePath, telemetry);

        // The stop begins as the app begins to stop, so Kestrel waits for no running handler and new one-way messages are
        // refused; the host's hosted service then waits for the accepted ones, within DrainTimeout and its own stop token.
        services.GetService<IHostApplicationLifetime>()?.ApplicationStopping.Register(() => _ = http.StopAsync());
        server.RegisterStop(async cancellationToken =>
        {
            if (!await http.StopAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested(); // the host ended the stop before every accepted message was handled
            }
        });
        return http.Map(endpoints);
    }
}
