using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Http;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class HttpTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddHttp();
}

#if NET9_0_OR_GREATER
/// <summary>The OpenAPI document every Ipc HTTP server's routes belong to (<see cref="HttpIpcServer.OpenApiDocumentName"/>).</summary>
internal static class HttpIpcBuilderExtensionsCore
{
    public static void AddIpcOpenApi(IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(OpenApiMarker)))
        {
            return;
        }

        services.AddSingleton<OpenApiMarker>();
        services.AddOpenApi(HttpIpcServer.OpenApiDocumentName, o => o.ShouldInclude = d => d.GroupName == HttpIpcServer.OpenApiDocumentName);
    }

    private sealed class OpenApiMarker;
}
#endif
