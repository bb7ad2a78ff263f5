using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.SharedMemory;

/// <summary>
/// Shared memory: <c>shm://name</c>. The server listens on a Unix socket (<c>ipc-shm-&lt;name&gt;.sock</c> in
/// <see cref="SharedMemoryTransportOptions.Directory"/>, mode 0600); for each client it accepts, it creates a segment of
/// two rings, tells the client its file name, and removes the file once the client has mapped it. The bytes then go
/// through the rings (<see cref="RingStream"/>), framed by the stream core; the socket stays open so that either side
/// learns at once when the other's process dies.
/// </summary>
internal sealed partial class SharedMemoryTransport : ConnectionTransport
{
    public const string Scheme = "shm";

    /// <summary>The longest server name, so that the socket path stays under the 108-byte limit of Unix sockets.</summary>
    public const int MaxNameLength = 64;

    private const byte Accepted = 0;
    private const byte Refused = 1;
    private const byte Mapped = 1;
    private const int MaxHelloText = 1024;

    private static readonly string[] s_schemes = [Scheme];

    public override string Name => "SharedMemory";

    public override IReadOnlyList<string> Schemes => s_schemes;

    public override string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var name = address.Host;
        if (string.IsNullOrEmpty(name))
        {
            return "name the server after shm://, for example shm://calc.";
        }

        if (address.AbsolutePath is not ("" or "/") || !string.IsNullOrEmpty(address.Query) || !string.IsNullOrEmpty(address.Fragment)
            || !string.IsNullOrEmpty(address.UserInfo) || address.Port != -1)
        {
            return $"write only a name after shm://, for example shm://{name}; a path, port, query or user is not part of a shared-memory address.";
        }

        if (name.Length > MaxNameLength || name is "." or ".." || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
        {
            return $"the name '{name}' may have up to {MaxNameLength} letters, digits, '.', '_' and '-', and is not '.' or '..'.";
        }

        return null;
    }

    /// <summary>The folder of the segments and the socket: the option, else /dev/shm on Linux, else the temporary folder.</summary>
    internal static string DirectoryOf(SharedMemoryTransportOptions options) =>
        options.Directory ?? (OperatingSystem.IsLinux() && Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath());

    /// <summary>The path of the Unix socket of server <paramref name="name"/>.</summary>
    internal static string SocketPath(string directory, string name) => Path.Combine(directory, $"{SharedMemorySegment.FilePrefix}{name}.sock");

    /// <summary>The address of server <paramref name="name"/>'s Unix socket, or an <see cref="IpcException"/> saying so when the OS does not allow a socket path that long.</summary>
    internal static UnixDomainSocketEndPoint SocketEndPoint(string directory, string name, string endpointName)
    {
        var path = SocketPath(directory, name);
        if (Ipc.Peers.UnixSocketPaths.WhyNot(path) is { } tooLong)
        {
            throw new IpcException(IpcErrorCode.Unavailable, $"Endpoint '{endpointName}' cannot use shm://{name}: its socket's path {tooLong}. Choose a shorter SharedMemory:Directory, or a shorter name.")
            {
                Endpoint = endpointName,
            };
        }

        return new UnixDomainSocketEndPoint(path);
    }

    protected override StreamTransportOptions GetOptions(IpcTransportContext context) => Options(context);

    protected override async ValueTask<DuplexConnection> OpenConnectionAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var options = Options(context);
        var directory = DirectoryOf(options);
        var name = context.Address.Host;
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        SharedMemorySegment? segment = null;
        try
        {
            try
            {
                await socket.ConnectAsync(SocketEndPoint(directory, name, context.EndpointName), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable && !cancellationToken.IsCancellationRequested)
            {
                throw NoServerListening(context, ex);
            }

            var (status, text) = await ReceiveHelloAsync(socket, cancellationToken).ConfigureAwait(false);
            if (status == Refused)
            {
                throw new UnauthorizedAccessException(text);
            }

            segment = SharedMemorySegment.Open(directory, name, text);
            await socket.SendAsync(new[] { Mapped }, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return Connect(new RingStream(segment, socket, server: false, options.ReaderSpin), options);
        }
        catch
        {
            segment?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    protected override ConnectionAcceptor CreateConnectionAcceptor(IpcTransportContext context) => new Acceptor(context, Options(context));

    // The reader spins with the ring's own reads that do not wait (RingStream is an INonBlockingStream): no probe needed.
    private static DuplexConnection Connect(RingStream stream, SharedMemoryTransportOptions options) =>
        options.DedicatedReaders ? DuplexConnection.CreateWithDedicatedReader(stream, isReadable: null, options.ReaderSpin) : DuplexConnection.Create(stream);

    private static SharedMemoryTransportOptions Options(IpcTransportContext context) =>
        context.Services.GetService<IOptionsMonitor<SharedMemoryTransportOptions>>()?.Get(context.EndpointName) ?? new SharedMemoryTransportOptions();

    /// <summary>Sends the server's hello: a status byte, a 16-bit length, then the segment's file name or why the client is refused.</summary>
    private static async Task SendHelloAsync(Socket socket, byte status, string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Length > MaxHelloText / 4 ? text[..(MaxHelloText / 4)] : text);
        var hello = new byte[3 + bytes.Length];
        hello[0] = status;
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(1), (ushort)bytes.Length);
        bytes.CopyTo(hello, 3);
        await socket.SendAsync(hello, SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<(byte Status, string Text)> ReceiveHelloAsync(Socket socket, CancellationToken cancellationToken)
    {
        var head = new byte[3];
        await ReceiveExactlyAsync(socket, head, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(1));
        if (head[0] is not (Accepted or Refused) || length > MaxHelloText)
        {
            throw new InvalidDataException("The server's shared-memory handshake is not one this client understands.");
        }

        var text = new byte[length];
        await ReceiveExactlyAsync(socket, text, cancellationToken).ConfigureAwait(false);
        return (head[0], Encoding.UTF8.GetString(text));
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("The peer closed the Unix socket during the shared-memory handshake.");
            }

            buffer = buffer[read..];
        }
    }
}
