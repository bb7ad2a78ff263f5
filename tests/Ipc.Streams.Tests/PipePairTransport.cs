using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Threading.Channels;
using Ipc.Transports;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Streams.Tests;

/// <summary>
/// A transport over in-process pairs of <see cref="Pipe"/>s (<c>pipepair://name</c>): a medium that is not a stream,
/// plugged into the stream core through <see cref="DuplexConnection"/> alone. Each connection is two pipes, one each way;
/// servers are found by name in this process.
/// </summary>
public sealed class PipePairTransport : ConnectionTransport
{
    public const string Scheme = "pipepair";

    private static readonly ConcurrentDictionary<string, Acceptor> s_servers = new(StringComparer.OrdinalIgnoreCase);

    public override string Name => "PipePair";

    public override IReadOnlyList<string> Schemes { get; } = [Scheme];

    /// <summary>Gets a value indicating whether a server listens on <paramref name="address"/> (for the release check).</summary>
    public static bool IsListening(Uri address) => s_servers.ContainsKey(address.Host);

    /// <summary>Opens a connection to the server of <paramref name="address"/> that the test writes and reads by hand.</summary>
    public static DuplexConnection ConnectRaw(Uri address) => Connect(address);

    /// <summary>Gets how many connections clients opened to <paramref name="address"/>.</summary>
    public static int ConnectionsOpened(Uri address) => s_servers.TryGetValue(address.Host, out var server) ? server.Opened : 0;

    public override string? ValidateAddress(Uri address) =>
        string.IsNullOrEmpty(address.Host) ? "name the server after //, for example pipepair://calculator." : null;

    #region open
    protected override ValueTask<DuplexConnection> OpenConnectionAsync(IpcTransportContext context, CancellationToken cancellationToken) =>
        new(Connect(context.Address));

    /// <summary>Reads the endpoint's <see cref="StreamTransportOptions"/>, configured like an adapter's options.</summary>
    protected override StreamTransportOptions GetOptions(IpcTransportContext context) =>
        context.Services.GetService<IOptionsMonitor<StreamTransportOptions>>()?.Get(context.EndpointName) ?? new StreamTransportOptions();

    private static DuplexConnection Connect(Uri address)
    {
        if (!s_servers.TryGetValue(address.Host, out var server))
        {
            throw new IOException($"no server is listening on {address}");
        }

        // Each direction pauses its writer past 1 MiB, so a peer that stops reading slows the other down.
        var options = new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        var serverSide = DuplexConnection.Create(new DuplexPipe(toServer.Reader, toClient.Writer));
        if (!server.Offer(serverSide))
        {
            throw new IOException($"the server on {address} is stopping");
        }

        return DuplexConnection.Create(new DuplexPipe(toClient.Reader, toServer.Writer));
    }
    #endregion

    #region accept
    protected override ConnectionAcceptor CreateConnectionAcceptor(IpcTransportContext context) => new Acceptor(context.Address.Host);

    private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    private sealed class Acceptor(string name) : ConnectionAcceptor
    {
        private readonly Channel<DuplexConnection> _incoming = Channel.CreateUnbounded<DuplexConnection>();
        private int _opened;

        public int Opened => Volatile.Read(ref _opened);

        public bool Offer(DuplexConnection connection)
        {
            // Named once per connection: the core sets it on every message, for handlers and the server's failure logs.
            connection.RemoteAddress = $"pipepair client #{Interlocked.Increment(ref _opened)}";
            return _incoming.Writer.TryWrite(connection);
        }

        public override ValueTask StartAsync(CancellationToken cancellationToken)
        {
            if (!s_servers.TryAdd(name, this))
            {
                throw new IpcException(IpcErrorCode.Unavailable, $"pipepair://{name} is already served in this process.");
            }

            return default;
        }

        public override ValueTask<DuplexConnection> AcceptAsync(CancellationToken cancellationToken) => _incoming.Reader.ReadAsync(cancellationToken);

        public override async ValueTask DisposeAsync()
        {
            s_servers.TryRemove(new KeyValuePair<string, Acceptor>(name, this));
            _incoming.Writer.TryComplete();
            while (_incoming.Reader.TryRead(out var unserved))
            {
                await unserved.DisposeAsync();
            }
        }
    }
    #endregion
}
