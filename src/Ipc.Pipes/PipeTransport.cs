using System.IO.Pipes;
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

        return address.AbsolutePath is "/" or "" ? null : $"a pipe:// address is only a name, without a path; use pipe://{address.Host}.";
    }

    internal static string PipeName(Uri address) => address.Host;

    protected override StreamTransportOptions GetOptions(IpcTransportContext context) => Options(context);

    protected override async ValueTask<Stream> ConnectAsync(IpcTransportContext context, CancellationToken cancellationToken)
    {
        var pipe = new NamedPipeClientStream(".", PipeName(context.Address), PipeDirection.InOut, PipeFlags(Options(context)));
        try
        {
            if (OperatingSystem.IsWindows())
            {
                await pipe.ConnectAsync(cancellationToken).ConfigureAwait(false); // waits while every server instance is busy
            }
            else
            {
                // .NET maps the pipe to a Unix socket, which is never busy: one attempt tells whether a server listens,
                // instead of polling until the connect timeout.
                await pipe.ConnectAsync(0, cancellationToken).ConfigureAwait(false);
            }

            return pipe;
        }
        catch
        {
            await pipe.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override StreamAcceptor CreateAcceptor(IpcTransportContext context) => new Acceptor(PipeName(context.Address), PipeFlags(Options(context)));

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

    /// <summary>Keeps one server instance waiting for a client at all times; each connection gets a new one.</summary>
    private sealed class Acceptor(string name, PipeOptions flags) : StreamAcceptor
    {
        private NamedPipeServerStream? _waiting;

        public override ValueTask StartAsync(CancellationToken cancellationToken)
        {
            _waiting = Create();
            return default;
        }

        public override async ValueTask<Stream> AcceptAsync(CancellationToken cancellationToken)
        {
            var pipe = _waiting ?? throw new ObjectDisposedException(nameof(Acceptor));
            await pipe.WaitForConnectionAsync(cancellationToken).ConfigureAwait(false);
            _waiting = Create();
            return pipe;
        }

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _waiting, null) is { } waiting)
            {
                await waiting.DisposeAsync().ConfigureAwait(false);
            }
        }

        private NamedPipeServerStream Create() =>
            new(name, PipeDirection.InOut, NamedPipeServerStream.MaxAllowedServerInstances, PipeTransmissionMode.Byte, flags);
    }
}
