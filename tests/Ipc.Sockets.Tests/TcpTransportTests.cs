using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Sockets.Tests;

[Trait("Transport", "Tcp")]
public sealed class TcpTransportTests
{
    /// <summary>
    /// KeepAlive and KeepAliveTime reach both ends' sockets: the kernel's table of TCP sockets (/proc/net/tcp) shows a
    /// keep-alive timer on an idle connection only when it is on, and a shorter one for a shorter KeepAliveTime.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/net/tcp
    public async Task KeepAliveOptions_ReachBothEndsSockets()
    {
        var pairs = new[]
        {
            await StartPairAsync(o => o.KeepAliveTime = TimeSpan.FromSeconds(7)),
            await StartPairAsync(o => o.KeepAliveTime = TimeSpan.FromSeconds(600)),
            await StartPairAsync(o => o.KeepAlive = false),
        };
        try
        {
            // Each socket of a pair (the client's and the server's): its timer kind (2: keep-alive) and when it fires.
            var timers = new (int Kind, long When)[pairs.Length][];
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            for (var i = 0; i < pairs.Length; i++)
            {
                // An idle socket's timer settles once the last segment is acknowledged.
                while ((timers[i] = Timers(pairs[i].Port)) is not { Length: 2 } || timers[i].Any(t => t.Kind is not (0 or 2)))
                {
                    await Task.Delay(10, bound.Token);
                }
            }

            Assert.All(timers[0].Concat(timers[1]), t => Assert.Equal(2, t.Kind));
            Assert.All(timers[2], t => Assert.Equal(0, t.Kind));
            Assert.True(timers[0].Max(t => t.When) * 10 < timers[1].Min(t => t.When), $"7 s: {string.Join(", ", timers[0])}; 600 s: {string.Join(", ", timers[1])}");
        }
        finally
        {
            await StopAsync(pairs);
        }

        // "tr:when": the timer's kind and when it fires, in hex.
        static (int Kind, long When)[] Timers(int port) =>
            Established(port).Select(f => (Convert.ToInt32(f[5][..2], 16), Convert.ToInt64(f[5][3..], 16))).ToArray();
    }

    /// <summary>
    /// NoDelay reaches both ends' sockets: TCP_NODELAY, read from the client's and the server's socket of a connection (both
    /// in this process), is on by default and off with NoDelay off.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/net/tcp, /proc/self/fd
    public async Task NoDelay_ReachesBothEndsSockets()
    {
        var noDelay = await SocketOptionsAsync(SocketOptionName.NoDelay, _ => { }, o => o.NoDelay = false);

        Assert.Equal([1, 1], noDelay[0]);
        Assert.Equal([0, 0], noDelay[1]);
    }

    /// <summary>
    /// KeepAliveInterval reaches both ends' sockets: TCP_KEEPINTVL, the seconds between unanswered keep-alive probes, read
    /// from the client's and the server's socket of a connection, is 5 by default and 9 with 9 seconds.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/net/tcp, /proc/self/fd
    public async Task KeepAliveInterval_ReachesBothEndsSockets()
    {
        var interval = await SocketOptionsAsync(SocketOptionName.TcpKeepAliveInterval, _ => { }, o => o.KeepAliveInterval = TimeSpan.FromSeconds(9));

        Assert.Equal([5, 5], interval[0]);
        Assert.Equal([9, 9], interval[1]);
    }

    /// <summary>
    /// KeepAliveRetryCount reaches both ends' sockets: TCP_KEEPCNT, the unanswered probes before a connection counts as lost,
    /// read from the client's and the server's socket of a connection, is 3 by default (not the system's 9) and 6 with 6.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/net/tcp, /proc/self/fd
    public async Task KeepAliveRetryCount_ReachesBothEndsSockets()
    {
        var count = await SocketOptionsAsync(SocketOptionName.TcpKeepAliveRetryCount, _ => { }, o => o.KeepAliveRetryCount = 6);

        Assert.Equal([3, 3], count[0]);
        Assert.Equal([6, 6], count[1]);
    }

    /// <summary>
    /// ListenBacklog reaches the listening socket: the kernel's backlog of a server's socket (ss's Send-Q) is 7 with 7, and
    /// 512 by default (or net.core.somaxconn, when that is lower).
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // ss
    public async Task ListenBacklog_ReachesTheListeningSocket() =>
        await ListenBacklogs.AssertReachesTheListeningSocketAsync(
            TestAddresses.NewTcpAddress, backlog => ipc => ipc.AddSockets(o => o.ListenBacklog = backlog), address => ListenBacklogs.OfTcpAsync(address.Port));

    [Fact]
    public async Task StartAsync_AddressWithPassword_FailsValidationWithoutShowingIt() =>
        await TestIpc.AssertRefusesCredentialsAsync($"tcp://127.0.0.1:{TestAddresses.FreePort()}", "a tcp:// address has no user name or password");

    [Fact]
    public async Task StartAsync_AddressInUse_ThrowsIpcExceptionNamingEndpointAndAddress()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var port = ((IPEndPoint)holder.LocalEndPoint!).Port;

        var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync($"tcp://127.0.0.1:{port}"));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Contains($"'{TestIpc.Endpoint}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("already in use", ex.Message, StringComparison.Ordinal);
        Assert.IsType<SocketException>(ex.InnerException);
    }

    /// <summary>
    /// Starts a pair for each of <paramref name="options"/> and reads <paramref name="name"/> (a TCP-level option) of both
    /// sockets of its connection, the client's and the server's, both in this process.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/net/tcp, /proc/self/fd
    private static async Task<int[][]> SocketOptionsAsync(SocketOptionName name, params Action<SocketTransportOptions>[] options)
    {
        var pairs = new List<(IHost Server, ServiceProvider Client, int Port)>();
        try
        {
            foreach (var configure in options)
            {
                pairs.Add(await StartPairAsync(configure));
            }

            var values = new int[pairs.Count][];
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            for (var i = 0; i < pairs.Count; i++)
            {
                while ((values[i] = Read(pairs[i].Port)) is not { Length: 2 })
                {
                    await Task.Delay(10, bound.Token);
                }
            }

            return values;
        }
        finally
        {
            await StopAsync([.. pairs]);
        }

        // This process's descriptors of the sockets (by inode, "socket:[inode]"), each read through a Socket that does not
        // own it: disposing that leaves the descriptor as it was.
        int[] Read(int port)
        {
            var sockets = Established(port).Select(f => $"socket:[{f[9]}]").ToHashSet(StringComparer.Ordinal);
            var read = new List<int>();
            foreach (var link in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                string? target;
                try
                {
                    target = new FileInfo(link).LinkTarget;
                }
                catch (IOException)
                {
                    continue; // closed since it was listed
                }

                if (target is not null && sockets.Contains(target))
                {
                    using var socket = new Socket(new SafeSocketHandle(int.Parse(Path.GetFileName(link), CultureInfo.InvariantCulture), ownsHandle: false));
                    read.Add((int)socket.GetSocketOption(SocketOptionLevel.Tcp, name)!);
                }
            }

            return [.. read];
        }
    }

    /// <summary>Starts a <c>tcp://</c> server and a client with the same options, and calls it once: connected, and idle from here.</summary>
    private static async Task<(IHost Server, ServiceProvider Client, int Port)> StartPairAsync(Action<SocketTransportOptions> options)
    {
        var port = TestAddresses.FreePort();
        var address = $"tcp://127.0.0.1:{port}";
        var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(options));
        var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(options));
        await TestIpc.AssertServesAsync(client);
        return (server, client, port);
    }

    private static async Task StopAsync((IHost Server, ServiceProvider Client, int Port)[] pairs)
    {
        foreach (var (server, client, _) in pairs)
        {
            await client.DisposeAsync();
            await server.StopAsync().WaitAsync(TestIpc.Bound);
            server.Dispose();
        }
    }

    /// <summary>
    /// The established sockets with one end on <paramref name="port"/>, from the kernel's tables: "sl local rem st queues
    /// tr:when retrnsmt uid timeout inode ...", addresses in hex (a client's dual-mode socket is in tcp6).
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static IEnumerable<string[]> Established(int port) =>
        File.ReadLines("/proc/net/tcp").Skip(1).Concat(File.ReadLines("/proc/net/tcp6").Skip(1))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f[3] == "01" && (PortOf(f[1]) == port || PortOf(f[2]) == port));

    private static int PortOf(string endpoint) => Convert.ToInt32(endpoint[(endpoint.IndexOf(':', StringComparison.Ordinal) + 1)..], 16);
}
