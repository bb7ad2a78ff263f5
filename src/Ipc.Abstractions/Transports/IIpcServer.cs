namespace Ipc.Transports;

/// <summary>
/// The server of one endpoint, as registered with <c>AddServer</c>: its <see cref="Dispatcher"/> (and through it, its
/// route table). A host integration that owns the request loop (an ASP.NET Core <c>MapIpc</c>, a gRPC service) gets it
/// from <see cref="IIpcServerProvider"/>, claims it with <see cref="MarkHostedExternally"/> and hands every request it
/// receives to the dispatcher.
/// </summary>
/// <remarks>Thread-safe. There is one instance per endpoint for the lifetime of the service provider.</remarks>
public interface IIpcServer
{
    /// <summary>Gets the name of the endpoint the server serves.</summary>
    string EndpointName { get; }

    /// <summary>Gets the dispatcher that runs the server's handlers; it is the same one a transport listener gets.</summary>
    /// <remarks>Reading it resolves the endpoint's options, so a bad configuration throws here.</remarks>
    IIpcDispatcher Dispatcher { get; }

    /// <summary>Gets whether a host integration has claimed the server (<see cref="MarkHostedExternally"/>).</summary>
    bool IsHostedExternally { get; }

    /// <summary>
    /// Claims the server for a host that owns the request loop: the runtime's hosted service then starts no transport
    /// listener for this endpoint. Call it before the host starts (for example while mapping routes into a web app).
    /// Calling it again does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">The hosted service has already started the endpoint's transport listener.</exception>
    void MarkHostedExternally();
}

/// <summary>
/// Gives the servers registered with <c>AddServer</c>, by endpoint name, so a host the transport does not own (an
/// ASP.NET Core app, a gRPC service) can serve them. Resolve it from the application's services.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public interface IIpcServerProvider
{
    /// <summary>Gets the names of the endpoints that have a server.</summary>
    IReadOnlyCollection<string> EndpointNames { get; }

    /// <summary>Gets the server of <paramref name="endpointName"/> (names compare case-insensitively).</summary>
    /// <exception cref="InvalidOperationException">No server was registered for <paramref name="endpointName"/>; the message names those that were.</exception>
    IIpcServer GetServer(string endpointName);
}
