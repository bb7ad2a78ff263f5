namespace Ipc.Transports;

/// <summary>
/// Optionally implemented by an <see cref="IIpcTransportClient"/> that can tell whether its endpoint is reachable without
/// calling a handler (opening a connection and completing its handshake, say). Health checks use it when it is there; a
/// transport client that does not implement it still works, and its endpoint's health is its circuit breaker's.
/// </summary>
/// <remarks>Implementations are thread-safe and may reuse an open connection instead of opening one.</remarks>
public interface IIpcTransportProbe
{
    /// <summary>Completes when the endpoint can be reached; throws an <see cref="IpcException"/> that says why not otherwise.</summary>
    /// <param name="cancellationToken">Cancels the probe.</param>
    /// <returns>A task that completes when the endpoint was reached.</returns>
    ValueTask ProbeAsync(CancellationToken cancellationToken);
}
