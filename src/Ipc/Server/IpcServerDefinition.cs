using System.Collections.Frozen;
using Ipc.Transports;

namespace Ipc.Server;

/// <summary>A server registered with <c>AddServer</c>: the endpoint it listens on, its routes and its service name.</summary>
internal sealed class IpcServerDefinition(string endpointName, IReadOnlyDictionary<string, RouteEntry> routes, int duplicateFilterCapacity = 0, string? serviceName = null)
{
    public string EndpointName { get; } = endpointName;

    /// <summary>Gets the handlers by route name, frozen: every message looks its route up here.</summary>
    public FrozenDictionary<string, RouteEntry> Routes { get; } = routes.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Gets the route table transports read: every route with its kind and types, ordered by name.</summary>
    public IReadOnlyList<IpcRoute> RouteTable { get; } = [.. routes.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => r.Value.Describe(r.Key))];

    /// <summary>Gets how many recent message ids the duplicate filter remembers; 0 when it is off.</summary>
    public int DuplicateFilterCapacity { get; } = duplicateFilterCapacity;

    /// <summary>Gets the service name set with <c>WithServiceName</c>, or null for the default (the application's name).</summary>
    public string? ServiceName { get; } = serviceName;
}
