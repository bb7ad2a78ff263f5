using System.Net.Sockets;
using System.Runtime.InteropServices;
using Ipc.Transports;
using Ipc.Transports.Streams;

namespace Ipc.Sockets;

/// <summary>
/// Unix domain sockets: <c>unix:///absolute/path/to.sock</c>. The server creates the socket file with
/// <see cref="SocketTransportOptions.UnixSocketFileMode"/> before it listens, replaces a stale file a dead server left, and
/// removes the file when it stops.
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

        return PathOf(address).Length <= 1 ? "name the socket file, for example unix:///run/calc.sock." : null;
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
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    protected override StreamAcceptor CreateAcceptor(IpcTransportContext context) => new Acceptor(PathOf(context.Address), SocketOptions(context));

    private sealed class Acceptor(string path, SocketTransportOptions options) : SocketAcceptor
    {
        private bool _bound;

        public override async ValueTask StartAsync(CancellationToken cancellationToken)
        {
            if (options.RequireSameUser && !OperatingSystem.IsLinux())
            {
                throw new PlatformNotSupportedException($"RequireSameUser needs SO_PEERCRED, which this platform ({RuntimeInformation.OSDescription}) lacks. Rely on UnixSocketFileMode instead.");
            }

            if (File.Exists(path))
            {
                await ReplaceStaleAsync(cancellationToken).ConfigureAwait(false);
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint(path));
                _bound = true;

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

        public override ValueTask<Stream> AuthenticateAsync(Stream stream, CancellationToken cancellationToken)
        {
            if (options.RequireSameUser && OperatingSystem.IsLinux())
            {
                var peer = PeerCredentials.GetPeerUserId(((NetworkStream)stream).Socket);
                var self = PeerCredentials.GetCurrentUserId();
                if (peer != self)
                {
                    throw Refuse(stream, $"the peer runs as user id {peer}, and RequireSameUser admits only user id {self}");
                }
            }

            return new ValueTask<Stream>(stream);
        }

        protected override void Release()
        {
            if (_bound)
            {
                _bound = false;
                File.Delete(path);
            }
        }

        private async Task ReplaceStaleAsync(CancellationToken cancellationToken)
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                File.Delete(path); // nobody answers: a server died without removing its file
                return;
            }

            throw new IpcException(IpcErrorCode.Unavailable, $"Another server is already listening on {path}. Stop it, or choose another path.");
        }
    }
}
