using Ipc.Sockets;
using Ipc.Testing;
using Ipc.TestUtils;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Streams.Tests;

/// <summary>A medium a stream-core server is tried over: its addresses, its options, and a raw connection to it.</summary>
public abstract class RawMedium
{
    public abstract string CreateAddress();

    public abstract void ConfigureServer(IIpcBuilder ipc, Action<StreamTransportOptions> options);

    public virtual void ConfigureClient(IIpcBuilder ipc)
    {
    }

    public abstract Task<DuplexConnection> ConnectRawAsync(string address);
}

/// <summary>A conformance server on a <typeparamref name="TMedium"/>, and raw clients that write frames by hand.</summary>
[Collection(PeerLimitsCollection.Name)]
public abstract class RawServerTests<TMedium> : IAsyncLifetime
    where TMedium : RawMedium, new()
{
    protected static readonly TimeSpan s_bound = TimeSpan.FromSeconds(15);
    private readonly List<IAsyncDisposable> _resources = [];
    private readonly List<IDisposable> _hosts = [];
    private readonly List<RawPeer> _peers = [];

    protected TMedium Medium { get; } = new();

    protected string CreateAddress() => Medium.CreateAddress();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // The raw peers read on and close once the server's GoAway comes, as clients do, so the servers' stops below wait
        // no bound for a peer that would never close.
        var closing = _peers.Select(peer => peer.CloseAfterGoAwayAsync(s_bound)).ToList();
        foreach (var resource in _resources)
        {
            await resource.DisposeAsync();
        }

        await Task.WhenAll(closing);

        foreach (var host in _hosts)
        {
            host.Dispose();
        }
    }

    protected void ConfigureClient(IIpcBuilder ipc) => Medium.ConfigureClient(ipc);

    private protected async Task<RawPeer> ConnectAsync(string address)
    {
        var peer = new RawPeer(await Medium.ConnectRawAsync(address));
        _peers.Add(peer);
        return peer;
    }

    protected async Task<IHost> StartServerAsync(string address, Action<StreamTransportOptions> options, Action<IpcServerBuilder>? routes = null, TimeProvider? time = null, Action<IpcEndpointOptions>? endpoint = null, Action<IServiceCollection>? services = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        services?.Invoke(builder.Services);

        var ipc = builder.Services.AddIpc();
        Medium.ConfigureServer(ipc, options);
        ipc.AddEndpoint(TestIpc.Endpoint, address, endpoint);
        ipc.AddServer(TestIpc.Endpoint, server =>
        {
            server.MapConformanceRoutes(new ConformanceProbe());
            routes?.Invoke(server);
        });
        var host = builder.Build();
        _hosts.Add(host);
        _resources.Insert(0, new HostStopper(host));
        await host.StartAsync().WaitAsync(s_bound);
        return host;
    }

    protected static void InterlockedMax(ref int target, int value)
    {
        for (var current = Volatile.Read(ref target); value > current; current = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, current) == current)
            {
                return;
            }
        }
    }

    /// <summary>Waits for <paramref name="condition"/>, checking every few milliseconds; fails after the bound.</summary>
    protected static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var bound = new CancellationTokenSource(s_bound);
        while (!condition())
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5));
            Assert.False(bound.IsCancellationRequested, "the condition never held");
        }
    }

    private sealed class HostStopper(IHost host) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await host.StopAsync().WaitAsync(s_bound);
    }
}

public sealed class PipePairMedium : RawMedium
{
    public override string CreateAddress() => $"{PipePairTransport.Scheme}://limits-{Guid.NewGuid():N}";

    public override void ConfigureServer(IIpcBuilder ipc, Action<StreamTransportOptions> options)
    {
        ipc.AddTransport<PipePairTransport>();
        ipc.Services.Configure(TestIpc.Endpoint, options);
    }

    public override void ConfigureClient(IIpcBuilder ipc) => ipc.AddTransport<PipePairTransport>();

    public override Task<DuplexConnection> ConnectRawAsync(string address) => Task.FromResult(PipePairTransport.ConnectRaw(new Uri(address)));
}

public sealed class UnixSocketMedium : RawMedium
{
    /// <summary>Gets the socket of the last raw connection, to see what has reached it.</summary>
    public System.Net.Sockets.Socket? LastSocket { get; private set; }

    public override string CreateAddress() => TestAddresses.NewUnixAddress();

    public override void ConfigureServer(IIpcBuilder ipc, Action<StreamTransportOptions> options) =>
        ipc.Services.Configure<SocketTransportOptions>(TestIpc.Endpoint, o => options(o));

    public override async Task<DuplexConnection> ConnectRawAsync(string address)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Uri.UnescapeDataString(new Uri(address).AbsolutePath)));
        LastSocket = socket;
        return DuplexConnection.Create(new System.Net.Sockets.NetworkStream(socket, ownsSocket: true));
    }
}

public sealed class TcpMedium : RawMedium
{
    public override string CreateAddress() => TestAddresses.NewTcpAddress();

    public override void ConfigureServer(IIpcBuilder ipc, Action<StreamTransportOptions> options) =>
        ipc.Services.Configure<SocketTransportOptions>(TestIpc.Endpoint, o => options(o));

    public override async Task<DuplexConnection> ConnectRawAsync(string address)
    {
        var uri = new Uri(address);
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(uri.Host, uri.Port);
        return DuplexConnection.Create(new System.Net.Sockets.NetworkStream(socket, ownsSocket: true));
    }
}

public sealed class NamedPipeMedium : RawMedium
{
    public override string CreateAddress() => TestAddresses.NewPipeAddress();

    public override void ConfigureServer(IIpcBuilder ipc, Action<StreamTransportOptions> options) =>
        ipc.Services.Configure<Ipc.Pipes.PipeTransportOptions>(TestIpc.Endpoint, o => options(o));

    public override async Task<DuplexConnection> ConnectRawAsync(string address)
    {
        var pipe = new System.IO.Pipes.NamedPipeClientStream(".", new Uri(address).Host, System.IO.Pipes.PipeDirection.InOut, System.IO.Pipes.PipeOptions.Asynchronous);
        await pipe.ConnectAsync((int)TimeSpan.FromSeconds(15).TotalMilliseconds);
        return DuplexConnection.Create(pipe);
    }
}

/// <summary>The heap is measured in these tests: nothing else of this assembly runs meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PeerLimitsCollection
{
    public const string Name = "Peer limits";
}
