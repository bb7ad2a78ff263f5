namespace Ipc.Server;

/// <summary>A server registered with <c>AddServer</c>: the endpoint it listens on and its routes.</summary>
internal sealed class IpcServerDefinition(string endpointName, IReadOnlyDictionary<string, RouteEntry> routes, int duplicateFilterCapacity = 0)
{
    public string EndpointName { get; } = endpointName;

    public IReadOnlyDictionary<string, RouteEntry> Routes { get; } = routes;

    /// <summary>Gets how many recent message ids the duplicate filter remembers; 0 when it is off.</summary>
    public int DuplicateFilterCapacity { get; } = duplicateFilterCapacity;
}
