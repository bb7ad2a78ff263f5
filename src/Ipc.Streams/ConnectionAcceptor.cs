namespace Ipc.Transports.Streams;

/// <summary>
/// The server side of a <see cref="ConnectionTransport"/>: listens on an address and hands over each new connection as a
/// <see cref="DuplexConnection"/>. The framing, dispatch, limits and shutdown are done by the core.
/// </summary>
/// <remarks>
/// <see cref="AcceptAsync"/> is called by one loop at a time; <see cref="AuthenticateAsync"/> runs for each connection on
/// its own, bounded by <see cref="StreamTransportOptions.HandshakeTimeout"/>, so a slow handshake does not hold up the others.
/// </remarks>
public abstract class ConnectionAcceptor : IAsyncDisposable
{
    /// <summary>Starts listening (binds, creates what the address names). Completes once clients can connect.</summary>
    public abstract ValueTask StartAsync(CancellationToken cancellationToken);

    /// <summary>Waits for the next connection. Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled.</summary>
    public abstract ValueTask<DuplexConnection> AcceptAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Finishes a new connection before any frame is read: a handshake of the medium's own, a check of the peer. Throw to
    /// refuse it; the connection is closed and the reason logged. Returns the connection to frame.
    /// </summary>
    /// <remarks>The default returns <paramref name="connection"/> as it is.</remarks>
    public virtual ValueTask<DuplexConnection> AuthenticateAsync(DuplexConnection connection, CancellationToken cancellationToken) => new(connection);

    /// <summary>
    /// Creates the exception <see cref="AuthenticateAsync"/> throws to refuse a connection with a reason the client is told:
    /// its call fails with <see cref="IpcErrorCode.Unauthorized"/> and that reason, instead of a bare disconnect.
    /// </summary>
    /// <param name="connection">The connection to send the refusal on.</param>
    /// <param name="reason">Why the client is refused; do not disclose secrets or what the server trusts.</param>
    protected static Exception Refuse(DuplexConnection connection, string reason)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new ConnectionRefusedException(connection, reason);
    }

    /// <summary>Stops listening and releases what <see cref="StartAsync"/> took. Connections already accepted are closed by the core.</summary>
    public abstract ValueTask DisposeAsync();
}

/// <summary>Thrown by an acceptor's authentication through <c>Refuse</c>: the listener tells the client why, then closes.</summary>
internal sealed class ConnectionRefusedException(DuplexConnection connection, string reason) : Exception(reason)
{
    public DuplexConnection Connection { get; } = connection;
}
