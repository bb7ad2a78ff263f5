using System.Net.Sockets;
using System.Runtime.InteropServices;
using Ipc.Peers;
using Ipc.Transports;
using Ipc.Transports.Streams;

namespace Ipc.Sockets;

/// <summary>
/// Unix domain sockets: <c>unix:///absolute/path/to.sock</c>. The server creates the socket file with
/// <see cref="SocketTransportOptions.UnixSocketFileMode"/> before it listens, replaces a stale socket file a dead server left
/// (never anything else), and removes the file when it stops.
/// </summary>
internal sealed class UnixSocketTransport : SocketTransportBase
{
    public const string Scheme = "unix";

    private static readonly string[] s_schemes = [Scheme];

    public override string Name => "UnixSocket";

    public override IReadOnlyList<string> Schemes => s_schemes;

    public override string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!string.IsNullOrEmpty(address.Host))
        {
            return $"put the absolute path of the socket file after unix:// (three slashes), for example unix:///run/calc.sock; '{address.Host}' would be read as a host.";
        }

        var path = PathOf(address);
        if (path.Length <= 1)
        {
            return "name the socket file, for example unix:///run/calc.sock.";
        }

        // Checked on the decoded path: unix:///run/app/..%2Fother.sock names /run/other.sock.
        if (path.Contains('\0', StringComparison.Ordinal) || path.Split('/', '\\').Any(segment => segment is "." or ".."))
        {
            return $"the path decodes to '{path}', which has a '.' or '..' segment or a NUL character; write the socket file's path without them.";
        }

        return Ipc.Peers.UnixSocketPaths.WhyNot(path) is { } tooLong
            ? $"the socket file's path {tooLong}; choose a shorter path, for example under /run or /tmp."
            : null;
    }

    internal static string PathOf(Uri address) => Uri.UnescapeDataString(address.AbsolutePath);

    protected override async ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            var endPoint = new UnixDomainSocketEndPoint(PathOf(context.Address));
            if (SocketOptions(context).DedicatedReaders)
            {
                // Connecting to a Unix socket waits for no network, only for room in the server's backlog.
                await ConnectBlockingAsync(socket, s => s.Connect(endPoint), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            }

            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable && !cancellationToken.IsCancellationRequested)
        {
            // Refused: a socket file nobody answers on. AddressNotAvailable: no file at all (ENOENT).
            socket.Dispose();
            throw NoServerListening(context, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    protected override StreamAcceptor CreateAcceptor(IpcTransportContext context) => new Acceptor(context, PathOf(context.Address), SocketOptions(context));

    private sealed class Acceptor(IpcTransportContext context, string path, SocketTransportOptions options) : SocketAcceptor
    {
        private BoundSocketFile? _bound;

        public override async ValueTask StartAsync(CancellationToken cancellationToken)
        {
            if (options.RequireSameUser && !OperatingSystem.IsLinux())
            {
                throw new PlatformNotSupportedException($"RequireSameUser needs SO_PEERCRED, which this platform ({RuntimeInformation.OSDescription}) lacks. Rely on UnixSocketFileMode instead.");
            }

            switch (SocketFile.KindOf(path, out var found))
            {
                case SocketFileKind.Socket:
                    await ReplaceStaleAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case SocketFileKind.Other:
                    throw SocketFile.NotASocket(context.EndpointName, context.DisplayAddress, path, found, "path");
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                try
                {
                    socket.Bind(new ListeningSocketEndPoint(new UnixDomainSocketEndPoint(path))); // the file is left to Release
                }
                catch (SocketException ex)
                {
                    throw new IpcException(IpcErrorCode.Unavailable, $"Endpoint '{context.EndpointName}' cannot listen on {path}: {ex.Message}", ex) { Endpoint = context.EndpointName };
                }

                _bound = BoundSocketFile.Of(path);

                // Set the mode before listening, so nobody connects while the file still has the umask's permissions.
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, options.UnixSocketFileMode);
                }

                socket.Listen(options.ListenBacklog);
                Listener = socket;
            }
            catch
            {
                socket.Dispose();
                Release();
                throw;
            }
        }

        /// <summary>The client's <c>pid=… uid=…</c> (SO_PEERCRED, Linux); elsewhere the socket file, since a client's socket has no name.</summary>
        public override string? GetRemoteAddress(Stream stream) => Ipc.Peers.UnixPeer.Describe(((NetworkStream)stream).Socket.SafeHandle) ?? "unix:" + path;

        public override ValueTask<Stream> AuthenticateAsync(Stream stream, CancellationToken cancellationToken)
        {
            if (options.RequireSameUser && OperatingSystem.IsLinux())
            {
                var peer = PeerCredentials.GetPeerUserId(((NetworkStream)stream).Socket);
                var self = options.AdmittedUserId?.Invoke() ?? PeerCredentials.GetCurrentUserId();
                if (peer != self)
                {
                    throw Refuse(stream, $"the peer runs as user id {peer}, and RequireSameUser admits only user id {self}");
                }
            }

            return new ValueTask<Stream>(stream);
        }

        protected override void Release()
        {
            if (_bound is { } bound)
            {
                _bound = null;
                bound.Remove(); // unless someone removed it and another server bound the path since
            }
        }

        private async Task ReplaceStaleAsync(CancellationToken cancellationToken)
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                File.Delete(path); // a socket nobody answers on: a server died without removing its file
                return;
            }
            catch (SocketException ex)
            {
                throw new IpcException(
                    IpcErrorCode.Unavailable,
                    $"Endpoint '{context.EndpointName}' cannot listen on {path}: a socket file is there, and connecting to it to see whether a server still answers failed ({ex.Message}). Remove it if it is stale, or choose another path.",
                    ex)
                {
                    Endpoint = context.EndpointName,
                };
            }

            throw new IpcException(IpcErrorCode.Unavailable, $"Another server is already listening on {path}. Stop it, or choose another path.") { Endpoint = context.EndpointName };
        }
    }
}
