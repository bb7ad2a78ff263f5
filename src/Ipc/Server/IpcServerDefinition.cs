namespace Ipc.Server;

/// <summary>A server registered with <c>AddServer</c>: the endpoint it listens on and its routes.</summary>
internal sealed class IpcServerDefinition(string endpointName, IReadOnlyDictionary<string, RouteEntry> routes)
{
    public string EndpointName { get; } = endpointName;

    public IReadOnlyDictionary<string, RouteEntry> Routes { get; } = routes;
}
