using System.IO.Pipes;
using System.Net.Sockets;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Pipes;

/// <summary>
/// Named pipes: <c>pipe://name</c>. The name is the platform's pipe name (on Windows <c>\\.\pipe\name</c>; elsewhere .NET
/// maps it to a Unix socket in the temporary folder). Names are case-insensitive, as URI hosts are.
/// </summary>
internal sealed class PipeTransport : StreamTransport
{
    public const string Scheme = "pipe";

    private static readonly string[] s_schemes = [Scheme];

    public override string Name => "Pipes";

    public override IReadOnlyList<string> Schemes => s_schemes;

    public override string? ValidateAddress(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (string.IsNullOrEmpty(address.Host))
        {
            return "name the pipe after //, for example pipe://calculator.";
        }

        if (address.AbsolutePath is not ("/" or "") || !string.IsNullOrEmpty(address.UserInfo))
        {
            return $"a pipe:// address is only a name, without a path, user name or password; use pipe://{address.Host}.";
        }

        return !OperatingSystem.IsWindows() && Ipc.Peers.UnixSocketPaths.WhyNot(SocketPath(PipeName(address))) is { } tooLong
            ? $"the name is too long: .NET puts this pipe's socket in the temporary folder, and its path {tooLong}; choose a shorter name."
            : null;
    }

    internal static string PipeName(Uri address) => address.Host;

    protected override StreamTransportOptions GetOptions(IpcTransportContext context) => Options(context);

    protected override async ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var pipe = new NamedPipeClientStream(".", PipeName(context.Address), PipeDirection.InOut, PipeFlags(Options(context)));
        try
        {
            // One attempt tells whether a server listens (on Linux and macOS .NET maps the pipe to a Unix socket, which is
            // never busy), so a call with no server fails at once and the endpoint's retry decides what to do next.
            try
            {
                await pipe.ConnectAsync(0, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException) when (OperatingSystem.IsWindows() && Exists(PipeName(context.Address)))
            {
                // Every instance of the pipe is busy: wait for one, within the connect timeout.
                await pipe.ConnectAsync(cancellationToken).ConfigureAwait(false);
            }

            return pipe;
        }
        catch (TimeoutException ex) when (!cancellationToken.IsCancellationRequested)
        {
            await pipe.DisposeAsync().ConfigureAwait(false);
            throw NoServerListening(context, ex);
        }
        catch
        {
            await pipe.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Tells whether a Windows pipe of this name exists, without connecting to (and so taking) one of its instances.</summary>
    private static bool Exists(string name) => Directory.EnumerateFiles(@"\\.\pipe\", name).Any();

    protected override StreamAcceptor CreateAcceptor(IpcTransportContext context) => new Acceptor(context, PipeName(context.Address), Options(context));

    /// <summary>Named pipes are operating-system handles with blocking reads: a dedicated reader when the options ask for one.</summary>
    protected override DuplexConnection CreateConnection(Stream stream, IpcTransportContext context)
    {
        var options = Options(context);
        return options.DedicatedReaders && stream is PipeStream pipe
            ? DuplexConnection.CreateWithDedicatedReader(stream, PipePoll.For(pipe), options.ReaderSpin)
            : DuplexConnection.Create(stream);
    }

    private static PipeTransportOptions Options(IpcTransportContext context) =>
        context.Services.GetRequiredService<IOptionsMonitor<PipeTransportOptions>>().Get(context.EndpointName);

    private static PipeOptions PipeFlags(PipeTransportOptions options) =>
        PipeOptions.Asynchronous | (options.CurrentUserOnly ? PipeOptions.CurrentUserOnly : PipeOptions.None);

    /// <summary>The Unix socket file .NET maps a pipe name to on Linux and macOS.</summary>
    internal static string SocketPath(string name) => Path.Combine(Path.GetTempPath(), "CoreFxPipe_" + name);

    /// <summary>Keeps one server instance waiting for a client at all times; each connection gets a new one.</summary>
    private sealed class Acceptor(IpcTransportContext context, string name, PipeTransportOptions options) : StreamAcceptor
    {
        private readonly PipeOptions _flags = PipeFlags(options);
        private NamedPipeServerStream? _waiting;

        public override async ValueTask StartAsync(CancellationToken cancellationToken)
        {
            if (OperatingSystem.IsWindows())
            {
                try
                {
                    // The first instance must be the name's first: another server's instances make it fail.
                    _waiting = Create(PipeOptions.FirstPipeInstance);
                }
                catch (UnauthorizedAccessException ex)
                {
                    throw AlreadyServed(ex);
                }

                return;
            }

            // .NET removes whatever is at the socket file and binds it anew, which would take the name from a live server.
            await EnsureNotServedAsync(cancellationToken).ConfigureAwait(false);
            _waiting = Create(PipeOptions.None);
            if (options.CurrentUserOnly)
            {
                // The file is created with the umask's mode. A peer of another user that connects before this line is
                // refused on accept by CurrentUserOnly's check of its user id; changing the umask instead would change it
                // for every thread of the process.
                File.SetUnixFileMode(SocketPath(name), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        public override async ValueTask<Stream> AcceptAsync(CancellationToken cancellationToken)
        {
            var pipe = _waiting ?? throw new ObjectDisposedException(nameof(Acceptor));
            await pipe.WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
            _waiting = Create(PipeOptions.None);
            return pipe;
        }

        /// <summary>
        /// The client's <c>pid=… uid=…</c> where the pipe is a Unix socket (SO_PEERCRED, Linux); elsewhere the pipe's
        /// address, once per connection.
        /// </summary>
        public override string? GetRemoteAddress(Stream stream) =>
            (!OperatingSystem.IsWindows() && stream is PipeStream pipe ? Ipc.Peers.UnixPeer.Describe(pipe.SafePipeHandle) : null) ?? "pipe://" + name;

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _waiting, null) is { } waiting)
            {
                await waiting.DisposeAsync().ConfigureAwait(false);
            }
        }

        private async Task EnsureNotServedAsync(CancellationToken cancellationToken)
        {
            // Only a socket file is .NET's to replace: a user's file, folder or link at the path stays, and start fails.
            var path = SocketPath(name);
            if (Ipc.Peers.SocketFile.KindOf(path, out var found) == Ipc.Peers.SocketFileKind.Other)
            {
                throw Ipc.Peers.SocketFile.NotASocket(context.EndpointName, context.DisplayAddress, path, found, "pipe name"); // .NET makes the pipe a Unix socket there
            }

            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await probe.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath(name)), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                return; // no file, or nobody answers on it
            }

            throw AlreadyServed(null);
        }

        private IpcException AlreadyServed(Exception? inner) =>
            new(IpcErrorCode.Unavailable, $"Another server is already listening on {context.DisplayAddress}. Stop it, or choose another pipe name.", inner)
            {
                Endpoint = context.EndpointName,
            };

        private NamedPipeServerStream Create(PipeOptions first) =>
            new(name, PipeDirection.InOut, NamedPipeServerStream.MaxAllowedServerInstances, PipeTransmissionMode.Byte, _flags | first);
    }
}
