using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Benchmarks;

/// <summary><see cref="StreamTransportBenchmarks"/> over <c>unix://</c>, against raw <see cref="Socket"/>s on a Unix domain socket.</summary>
public class UnixSocketBenchmarks : StreamTransportBenchmarks
{
    private readonly string _rawPath = Path.Combine(Path.GetTempPath(), $"bench-raw-{Guid.NewGuid():N}.sock");

    protected override IIpcBuilder Configure(IIpcBuilder ipc, bool inline) => ipc.AddSockets(o =>
    {
        o.UnsafePreferInlineHandlers = inline;
        o.UnsafePreferInlineCompletions = inline;
    });

    protected override string NewAddress() => $"unix://{Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.sock")}";

    protected override Task<RawEchoServer> StartRawServerAsync()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(_rawPath));
        listener.Listen();
        return Task.FromResult(new RawEchoServer(
            async ct => new NetworkStream(await listener.AcceptAsync(ct), ownsSocket: true),
            () =>
            {
                listener.Dispose();
                File.Delete(_rawPath);
                return default;
            }));
    }

    protected override async Task<Stream> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_rawPath));
        return new NetworkStream(socket, ownsSocket: true);
    }
}

/// <summary><see cref="StreamTransportBenchmarks"/> over <c>tcp://</c> on loopback, against raw <see cref="Socket"/>s with no-delay.</summary>
public class TcpBenchmarks : StreamTransportBenchmarks
{
    private int _rawPort;

    protected override IIpcBuilder Configure(IIpcBuilder ipc, bool inline) => ipc.AddSockets(o =>
    {
        o.UnsafePreferInlineHandlers = inline;
        o.UnsafePreferInlineCompletions = inline;
    });

    protected override string NewAddress() => $"tcp://127.0.0.1:{FreePort()}";

    protected override Task<RawEchoServer> StartRawServerAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        _rawPort = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return Task.FromResult(new RawEchoServer(
            async ct =>
            {
                var socket = await listener.AcceptAsync(ct);
                socket.NoDelay = true;
                return new NetworkStream(socket, ownsSocket: true);
            },
            () =>
            {
                listener.Dispose();
                return default;
            }));
    }

    protected override async Task<Stream> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, _rawPort);
        return new NetworkStream(socket, ownsSocket: true);
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
