namespace Ipc.Transports.Streams;

/// <summary>
/// The server side of a stream transport: listens on an address and hands over each new connection as a
/// <see cref="Stream"/>. The framing, dispatch, limits and shutdown are done by the core.
/// </summary>
/// <remarks>
/// <see cref="AcceptAsync"/> is called by one loop at a time; <see cref="AuthenticateAsync"/> runs for each connection on
/// its own, so a slow handshake does not hold up the others.
/// </remarks>
public abstract class StreamAcceptor : IAsyncDisposable
{
    /// <summary>Starts listening (binds the socket, creates the file). Completes once clients can connect.</summary>
    public abstract ValueTask StartAsync(CancellationToken cancellationToken);

    /// <summary>Waits for the next connection. Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled.</summary>
    public abstract ValueTask<Stream> AcceptAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Finishes a new connection before any frame is read: a TLS handshake, a peer-credential check. Throw to refuse it;
    /// the connection is closed and the reason logged. Returns the stream to frame (the TLS stream, for example).
    /// </summary>
    /// <remarks>The default returns <paramref name="stream"/> as it is.</remarks>
    public virtual ValueTask<Stream> AuthenticateAsync(Stream stream, CancellationToken cancellationToken) => new(stream);

    /// <summary>
    /// Names the client of a stream <see cref="AcceptAsync"/> returned, for handlers (<see cref="IpcContext.RemoteAddress"/>)
    /// and the server's logs: <c>ip:port</c>, <c>pid=… uid=…</c>, a name. Called once per connection, just before
    /// <see cref="AuthenticateAsync"/>; the core sets the string on every message of the connection.
    /// </summary>
    /// <remarks>The default names no peer (<see langword="null"/>). An exception refuses the connection, as one from <see cref="AuthenticateAsync"/> does.</remarks>
    /// <param name="stream">The stream as <see cref="AcceptAsync"/> returned it.</param>
    public virtual string? GetRemoteAddress(Stream stream) => null;

    /// <summary>
    /// Creates the exception <see cref="AuthenticateAsync"/> throws to refuse a connection with a reason the client is told:
    /// its call fails with <see cref="IpcErrorCode.Unauthorized"/> and that reason, instead of a bare disconnect.
    /// </summary>
    /// <param name="stream">The stream to send the refusal on (after TLS, the TLS stream).</param>
    /// <param name="reason">Why the client is refused; do not disclose secrets.</param>
    protected static Exception Refuse(Stream stream, string reason)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new StreamRefusedException(stream, reason);
    }

    /// <summary>Stops listening and releases what <see cref="StartAsync"/> took (the socket, the file). Connections already accepted are closed by the core.</summary>
    public abstract ValueTask DisposeAsync();
}

/// <summary>Thrown by <see cref="StreamAcceptor.AuthenticateAsync"/> through <c>Refuse</c>: the listener tells the client why, then closes.</summary>
internal sealed class StreamRefusedException(Stream stream, string reason) : Exception(reason)
{
    public Stream Stream { get; } = stream;
}
