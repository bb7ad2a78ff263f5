namespace Ipc.Transports.Streams;

/// <summary>
/// The base of every transport over a byte stream (named pipes, Unix domain sockets, TCP, your own). A subclass only
/// opens streams: <see cref="ConnectAsync"/> on the client, a <see cref="StreamAcceptor"/> on the server, and says how
/// its streams are read (<see cref="CreateConnection"/>). The core does the rest, as for every
/// <see cref="ConnectionTransport"/>.
/// </summary>
/// <remarks>Registered as a singleton; implementations must be thread-safe.</remarks>
public abstract class StreamTransport : ConnectionTransport
{
    /// <summary>Opens a new connection to the server of <paramref name="context"/>'s address (and finishes any handshake of its own, such as TLS).</summary>
    /// <remarks>
    /// Throw <see cref="IpcException"/> with the code that fits, or let the native exception out: the core maps
    /// <see cref="System.Security.Authentication.AuthenticationException"/>, <see cref="UnauthorizedAccessException"/> and a
    /// <see cref="System.Net.Sockets.SocketException"/> of <see cref="System.Net.Sockets.SocketError.AccessDenied"/> (a socket
    /// file whose mode refuses this process's user) to <see cref="IpcErrorCode.Unauthorized"/> and the rest to
    /// <see cref="IpcErrorCode.Unavailable"/>, keeping the native exception as the inner one. The core bounds the call with
    /// the endpoint's <c>ConnectTimeout</c>.
    /// </remarks>
    protected abstract ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken);

    /// <summary>Creates the acceptor that listens on <paramref name="context"/>'s address.</summary>
    protected abstract StreamAcceptor CreateAcceptor(IpcTransportContext context);

    /// <summary>
    /// Wraps a connected (and authenticated) stream of this transport for the core: how it is read and written.
    /// </summary>
    /// <remarks>
    /// The default reads asynchronously (<see cref="DuplexConnection.Create(Stream)"/>). A transport whose streams are
    /// operating-system handles with blocking reads returns
    /// <see cref="DuplexConnection.CreateWithDedicatedReader"/> when <see cref="StreamTransportOptions.DedicatedReaders"/>
    /// is on.
    /// </remarks>
    /// <param name="stream">The stream <see cref="ConnectAsync"/> or the acceptor returned.</param>
    /// <param name="context">The endpoint's context.</param>
    protected virtual DuplexConnection CreateConnection(Stream stream, IpcTransportContext context) => DuplexConnection.Create(stream);

    /// <inheritdoc />
    protected sealed override async ValueTask<DuplexConnection> OpenConnectionAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var stream = await ConnectAsync(context, cancellationToken).ConfigureAwait(false);
        try
        {
            return CreateConnection(stream, context);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    protected sealed override ConnectionAcceptor CreateConnectionAcceptor(IpcTransportContext context) =>
        new StreamAcceptorAdapter(CreateAcceptor(context), this, context);

    /// <summary>Serves a <see cref="StreamAcceptor"/>'s streams as connections: authenticated first, then wrapped.</summary>
    private sealed class StreamAcceptorAdapter(StreamAcceptor acceptor, StreamTransport transport, IpcTransportContext context) : ConnectionAcceptor
    {
        public override ValueTask StartAsync(CancellationToken cancellationToken) => acceptor.StartAsync(cancellationToken);

        public override async ValueTask<DuplexConnection> AcceptAsync(CancellationToken cancellationToken) =>
            DuplexConnection.Create(await acceptor.AcceptAsync(cancellationToken).ConfigureAwait(false)); // not read until authenticated

        public override async ValueTask<DuplexConnection> AuthenticateAsync(DuplexConnection connection, CancellationToken cancellationToken)
        {
            var accepted = ((StreamDuplexConnection)connection).Stream;
            var remoteAddress = acceptor.GetRemoteAddress(accepted); // once per connection, off the accept loop
            Stream framed;
            try
            {
                framed = await acceptor.AuthenticateAsync(accepted, cancellationToken).ConfigureAwait(false);
            }
            catch (StreamRefusedException refused)
            {
                throw new ConnectionRefusedException(DuplexConnection.Create(refused.Stream), refused.Message);
            }

            var authenticated = transport.CreateConnection(framed, context);
            authenticated.RemoteAddress ??= remoteAddress;
            return authenticated;
        }

        public override ValueTask DisposeAsync() => acceptor.DisposeAsync();
    }
}
