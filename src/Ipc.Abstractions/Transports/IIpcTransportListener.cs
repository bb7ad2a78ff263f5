namespace Ipc.Transports;

/// <summary>
/// The server side of a transport for one endpoint: accepts connections and hands every incoming message to the
/// runtime's <see cref="IIpcDispatcher"/>.
/// </summary>
/// <remarks>
/// A listener never fails because of what a client sends: a malformed or oversized frame closes that one connection
/// (logged with the reason) and others stay served. <see cref="StopAsync"/> stops accepting, cancels the tokens of running
/// handlers and makes their callers fail at once with <see cref="IpcErrorCode.Unavailable"/>.
/// </remarks>
public interface IIpcTransportListener : IAsyncDisposable
{
    /// <summary>Starts listening. Completes once clients can connect.</summary>
    ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken);

    /// <summary>Stops listening and releases what the listener holds (sockets, files, segments).</summary>
    ValueTask StopAsync(CancellationToken cancellationToken);
}
