namespace Ipc.Transports;

/// <summary>
/// The server of one endpoint, as registered with <c>AddServer</c>: its <see cref="Dispatcher"/> (and through it, its
/// route table). A host integration that owns the request loop (an ASP.NET Core <c>MapIpc</c>, a gRPC service) gets it
/// from <see cref="IIpcServerProvider"/>, claims it with <see cref="MarkHostedExternally"/>, hands every request it
/// receives to the dispatcher and, if it answers messages before their handler has run, registers its stop with
/// <see cref="RegisterStop"/> so the host waits for them.
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

    /// <summary>
    /// Registers how the host integration that claimed the server stops serving it: when the host stops, the runtime's
    /// hosted service calls <paramref name="stop"/> with the host's stop token, at the same time as it stops the other
    /// endpoints, and waits for the task. An integration that answers one-way messages before their handler has run
    /// (a queue) handles those it accepted there, for the endpoint's <c>DrainTimeout</c> at most, or until the token ends
    /// it sooner. Each registered stop is called once.
    /// </summary>
    /// <param name="stop">Stops serving the endpoint; it is called with the host's stop token.</param>
    /// <exception cref="InvalidOperationException">The server is not claimed: call <see cref="MarkHostedExternally"/> first.</exception>
    void RegisterStop(Func<CancellationToken, Task> stop);
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
