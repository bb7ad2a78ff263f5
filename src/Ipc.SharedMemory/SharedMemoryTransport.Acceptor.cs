using System.IO.Pipelines;
using System.Net.Sockets;
using Ipc.Peers;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.SharedMemory;

internal sealed partial class SharedMemoryTransport
{
    /// <summary>
    /// Listens on the server's Unix socket. Each accepted socket is a <see cref="Handshake"/> until
    /// <see cref="AuthenticateAsync"/> has checked the peer's user, given it a segment and seen it mapped.
    /// </summary>
    private sealed partial class Acceptor(IpcTransportContext context, SharedMemoryTransportOptions options) : ConnectionAcceptor
    {
        private readonly string _name = context.Address.Host;
        private readonly string _directory = DirectoryOf(options);
        private readonly ILogger _logger = context.Services.GetService<ILoggerFactory>()?.CreateLogger("Ipc.SharedMemory") ?? NullLogger.Instance;
        private Socket? _listener;
        private BoundSocketFile? _bound;

        private string SocketFile => SocketPath(_directory, _name);

        public override async ValueTask StartAsync(CancellationToken cancellationToken)
        {
            var endPoint = SocketEndPoint(_directory, _name, context.EndpointName); // fails here when the OS allows no path that long
            switch (Ipc.Peers.SocketFile.KindOf(SocketFile, out var found))
            {
                case SocketFileKind.Socket:
                    await ReplaceStaleAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case SocketFileKind.Other:
                    // Read from its type, not by opening it: opening a named pipe waits for a writer, and a file only its owner
                    // may write opens for no one else, yet a connect to it is refused as to a socket nobody answers on.
                    throw Ipc.Peers.SocketFile.NotASocket(context.EndpointName, context.DisplayAddress, SocketFile, found, "name");
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                try
                {
                    socket.Bind(new ListeningSocketEndPoint(endPoint)); // the file is left to Release
                }
                catch (SocketException ex)
                {
                    throw new IpcException(IpcErrorCode.Unavailable, $"Endpoint '{context.EndpointName}' cannot listen on {context.DisplayAddress} ({SocketFile}): {ex.Message}", ex) { Endpoint = context.EndpointName };
                }

                _bound = BoundSocketFile.Of(SocketFile);

                // Once the socket is this server's, no other server of the name runs here: the segments a dead one left go.
                var removed = SharedMemorySegment.RemoveStale(_directory, _name);
                if (removed > 0)
                {
                    Log.StaleSegmentsRemoved(_logger, removed, _name, _directory);
                }

                // Only the owner may connect; set before listening, so nobody connects while the umask's mode holds.
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(SocketFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }

                socket.Listen(options.ListenBacklog);
                _listener = socket;
            }
            catch
            {
                socket.Dispose();
                Release();
                throw;
            }
        }

        public override async ValueTask<DuplexConnection> AcceptAsync(CancellationToken cancellationToken) =>
            new Handshake(await _listener!.AcceptAsync(cancellationToken).ConfigureAwait(false));

        /// <summary>Checks the peer's user, creates its segment, sends its name and waits until the client mapped it; then removes the file.</summary>
        public override async ValueTask<DuplexConnection> AuthenticateAsync(DuplexConnection connection, CancellationToken cancellationToken)
        {
            var socket = ((Handshake)connection).Socket;
            if (OperatingSystem.IsLinux())
            {
                var peer = NativeMethods.GetPeerUserId(socket);
                var self = options.AdmittedUserId?.Invoke() ?? NativeMethods.GetCurrentUserId();
                if (peer != self)
                {
                    var reason = $"the server admits only processes of its own user, and this one runs as user id {peer}";
                    await SendHelloAsync(socket, Refused, reason, cancellationToken).ConfigureAwait(false);
                    throw new UnauthorizedAccessException(reason);
                }
            }

            var segment = SharedMemorySegment.Create(_directory, _name, options.RingSize);
            try
            {
                await SendHelloAsync(socket, Accepted, segment.FileName, cancellationToken).ConfigureAwait(false);
                var mapped = new byte[1];
                await ReceiveExactlyAsync(socket, mapped, cancellationToken).ConfigureAwait(false);
                if (mapped[0] != Mapped)
                {
                    throw new InvalidDataException("The client's shared-memory handshake is not one this server understands.");
                }

                segment.Unlink(); // both processes have it mapped: nothing is left behind, whatever happens next
                var framed = Connect(new RingStream(segment, socket, server: true, options.ReaderSpin), options);
                framed.RemoteAddress = Ipc.Peers.UnixPeer.Describe(socket.SafeHandle) ?? context.DisplayAddress; // the client's pid and uid, once per connection
                return framed;
            }
            catch
            {
                segment.Dispose();
                throw;
            }
        }

        public override ValueTask DisposeAsync()
        {
            _listener?.Dispose();
            Release();
            return default;
        }

        private void Release()
        {
            if (_bound is { } bound)
            {
                _bound = null;
                bound.Remove(); // unless someone removed it and another server bound the path since
            }
        }

        /// <summary>Replaces a socket file nobody answers on (a server that died); refuses one a server answers on.</summary>
        private async Task ReplaceStaleAsync(CancellationToken cancellationToken)
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await probe.ConnectAsync(new UnixDomainSocketEndPoint(SocketFile), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                File.Delete(SocketFile); // a socket nobody answers on: a server died without removing it
                return;
            }
            catch (SocketException ex)
            {
                throw new IpcException(
                    IpcErrorCode.Unavailable,
                    $"Endpoint '{context.EndpointName}' cannot listen on {context.DisplayAddress}: a socket is there ({SocketFile}) that this process cannot check is one a server left ({ex.Message}). Remove it, or choose another name.",
                    ex)
                {
                    Endpoint = context.EndpointName,
                };
            }

            throw new IpcException(IpcErrorCode.Unavailable, $"Another server is already listening on {context.DisplayAddress}. Stop it, or choose another name.") { Endpoint = context.EndpointName };
        }
    }

    /// <summary>An accepted Unix socket before its handshake: nothing is framed on it; disposing it closes the socket.</summary>
    private sealed class Handshake(Socket socket) : DuplexConnection
    {
        public Socket Socket => socket;

        public override PipeReader Input => throw new InvalidOperationException("The shared-memory handshake has not finished.");

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> frames) => throw new IOException("The shared-memory handshake has not finished.");

        public override void Abort() => socket.Dispose();

        public override ValueTask DisposeAsync()
        {
            socket.Dispose();
            return default;
        }
    }
}
