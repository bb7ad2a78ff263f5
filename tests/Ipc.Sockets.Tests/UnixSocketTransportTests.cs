using System.Net.Sockets;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ipc.Sockets.Tests;

[Trait("Transport", "UnixSocket")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class UnixSocketTransportTests
{
    [Fact]
    public async Task StartAsync_DefaultOptions_CreatesSocketFileWithMode0600()
    {
        var path = TestAddresses.NewSocketPath();
        using var server = await TestIpc.StartServerAsync("unix://" + path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task StartAsync_ConfiguredFileMode_IsApplied()
    {
        var path = TestAddresses.NewSocketPath();
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        using var server = await TestIpc.StartServerAsync("unix://" + path, ipc => ipc.AddSockets(o => o.UnixSocketFileMode = mode));

        Assert.Equal(mode, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task StartAsync_StaleFileOfDeadServer_IsReplaced()
    {
        var path = TestAddresses.NewSocketPath();
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            // .NET removes the file of a socket it closes; moving the file away first leaves a dead one behind, as a crash would.
            dead.Bind(new UnixDomainSocketEndPoint(path));
            File.Move(path, path + ".dead");
        }

        File.Move(path + ".dead", path);

        Assert.True(File.Exists(path));
        using var server = await TestIpc.StartServerAsync("unix://" + path);
        await using var client = TestIpc.CreateClient("unix://" + path);

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task StartAsync_AnotherServerListening_FailsAndLeavesItServing()
    {
        var address = TestAddresses.NewUnixAddress();
        using var first = await TestIpc.StartServerAsync(address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync(address));

        Assert.Contains("already listening", ex.Message, StringComparison.Ordinal);
        await using var client = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(client);
    }

    [Theory]
    [InlineData("regular file")]
    [InlineData("directory")]
    [InlineData("symbolic link")]
    [InlineData("named pipe (FIFO)")]
    public async Task StartAsync_SomethingElseThanASocketAtPath_FailsNamingThePathAndKeepsIt(string kind)
    {
        var path = TestAddresses.NewSocketPath();
        var target = path + ".target";
        switch (kind)
        {
            case "regular file":
                await File.WriteAllTextAsync(path, "a user's data");
                break;
            case "directory":
                Directory.CreateDirectory(path);
                break;
            case "named pipe (FIFO)":
                using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]))
                {
                    await mkfifo.WaitForExitAsync().WaitAsync(TestIpc.Bound);
                    Assert.Equal(0, mkfifo.ExitCode);
                }

                break;
            default:
                await File.WriteAllTextAsync(target, "a user's data");
                File.CreateSymbolicLink(path, target);
                break;
        }

        try
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync("unix://" + path));

            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains(kind, ex.Message, StringComparison.Ordinal);
            Assert.True(kind == "directory" ? Directory.Exists(path) : File.Exists(path), $"the {kind} at the path was removed");
        }
        finally
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path);
            }

            File.Delete(path);
            File.Delete(target);
        }
    }

    [Fact]
    public async Task StartAsync_PercentEscapedDotDotInPath_FailsAndLeavesTheFileOutsideTheFolder()
    {
        // unix:///folder/inner/..%2Fvictim decodes to /folder/inner/../victim, which is /folder/victim.
        var folder = Path.Combine(TestAddresses.Folder, Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(folder, "inner"));
        var victim = Path.Combine(folder, "victim");
        await File.WriteAllTextAsync(victim, "a user's data");
        try
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => TestIpc.StartServerAsync($"unix://{folder}/inner/..%2Fvictim"));

            Assert.Contains("..", ex.Message, StringComparison.Ordinal);
            Assert.Equal("a user's data", await File.ReadAllTextAsync(victim));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task StartAsync_SocketPathLongerThanTheSystemAllows_FailsValidationSayingHowLong()
    {
        var path = "/tmp/" + new string('a', 120) + ".sock"; // 130 bytes: Linux allows 108, macOS 104

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestIpc.StartServerAsync("unix://" + path));

        Assert.Contains($"is not valid for the UnixSocket transport: the socket file's path '{path}' is 130 bytes, longer than this system lets a Unix socket's path be", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    /// <summary>
    /// ListenBacklog reaches the listening socket: the kernel's backlog of a server's socket (ss's Send-Q) is 7 with 7, and
    /// 512 by default (or net.core.somaxconn, when that is lower).
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // ss
    public async Task ListenBacklog_ReachesTheListeningSocket() =>
        await ListenBacklogs.AssertReachesTheListeningSocketAsync(
            TestAddresses.NewUnixAddress, backlog => ipc => ipc.AddSockets(o => o.ListenBacklog = backlog), address => ListenBacklogs.OfUnixAsync(UnixSocketTransport.PathOf(address)));

    [Fact]
    public async Task StopAsync_Server_RemovesSocketFile()
    {
        var path = TestAddresses.NewSocketPath();
        var server = await TestIpc.StartServerAsync("unix://" + path);
        Assert.True(File.Exists(path));

        await server.StopAsync().WaitAsync(TestIpc.Bound);
        server.Dispose();

        Assert.False(File.Exists(path));
    }

    /// <summary>
    /// A server removes its own socket file when it stops, not one another server bound at the path after someone removed
    /// the first one's: that server keeps serving, and its file goes when it stops.
    /// </summary>
    [Fact]
    public async Task StopAsync_SocketFileRemovedAndPathTakenByAnotherServer_LeavesTheOtherOnesFile()
    {
        var path = TestAddresses.NewSocketPath();
        var first = await TestIpc.StartServerAsync("unix://" + path);
        File.Delete(path);
        using var second = await TestIpc.StartServerAsync("unix://" + path);

        await first.StopAsync().WaitAsync(TestIpc.Bound);
        first.Dispose();

        Assert.True(File.Exists(path), "the first server removed the second one's socket file");
        await using (var client = TestIpc.CreateClient("unix://" + path))
        {
            await TestIpc.AssertServesAsync(client);
        }

        await second.StopAsync().WaitAsync(TestIpc.Bound);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task RequestAsync_RequireSameUserAndSameUser_IsServed()
    {
        var address = TestAddresses.NewUnixAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => o.RequireSameUser = true));
        await using var client = TestIpc.CreateClient(address);

        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // as RequireSameUser (SO_PEERCRED)
    public async Task RequestAsync_RequireSameUserAndAnotherUser_ThrowsUnauthorizedNamingBothUserIdsAndServesOthers()
    {
        // The server admits a user id other than this process's, so this process's connections come from another user, as
        // far as it can tell: the peer's id is the kernel's (SO_PEERCRED).
        var self = PeerCredentials.GetCurrentUserId();
        var admitted = self + 1;
        var address = TestAddresses.NewUnixAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o =>
        {
            o.RequireSameUser = true;
            o.AdmittedUserId = () => admitted;
        }));
        await using var refused = TestIpc.CreateClient(address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => refused.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains($"the peer runs as user id {self}, and RequireSameUser admits only user id {admitted}", ex.Message, StringComparison.Ordinal);

        // The refusal closed that connection only: once the server admits this user, a new client is served.
        admitted = self;
        await using var admittedClient = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(admittedClient);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RequestAsync_DedicatedReadersOnOrOff_InlineHandlerRunsOnTheReaderItSays(bool dedicated)
    {
        // With inline handlers a handler starts on the thread that read its request: the connection's own reader, or a
        // thread-pool thread when reads are asynchronous.
        var thread = await TestIpc.HandlerThreadNameAsync(
            TestAddresses.NewUnixAddress(),
            ipc => ipc.AddSockets(o =>
            {
                o.DedicatedReaders = dedicated;
                o.UnsafePreferInlineHandlers = true;
            }),
            ipc => ipc.AddSockets(o => o.DedicatedReaders = dedicated));

        Assert.Equal(dedicated, thread == "Ipc connection reader");
    }

    [Fact]
    public async Task RequestAsync_MoreClientsThanMaxDedicatedReaders_LaterConnectionsReadOnTheThreadPool()
    {
        var address = TestAddresses.NewUnixAddress();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc()
            .AddSockets(o => o.MaxDedicatedReaders = 1)
            .AddEndpoint(TestIpc.Endpoint, address)
            .AddServer(TestIpc.Endpoint, server => server.MapRequest<string, string?[]>("thread", _ => [Thread.CurrentThread.Name]));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        await using var first = TestIpc.CreateClient(address);
        await using var second = TestIpc.CreateClient(address);

        var firstThread = Assert.Single(await first.Requests().RequestAsync<string, string?[]>("thread", "which").AsTask().WaitAsync(TestIpc.Bound));
        var secondThread = Assert.Single(await second.Requests().RequestAsync<string, string?[]>("thread", "which").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal("Ipc connection reader", firstThread);
        Assert.NotEqual("Ipc connection reader", secondThread);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10_000)]
    public async Task RequestAsync_ReaderSpinOffOrAtItsLimit_ServesCallsAndStreams(int spinMicroseconds)
    {
        // Off, readers block in their read at once; at its 10 ms limit, they poll through every pause of the exchange.
        var spin = TimeSpan.FromMicroseconds(spinMicroseconds);
        var address = TestAddresses.NewUnixAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSockets(o => o.ReaderSpin = spin));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddSockets(o => o.ReaderSpin = spin));

        await TestIpc.AssertServesAsync(client);
    }

    [Theory]
    [InlineData(nameof(SocketTransportOptions.ConnectionPoolSize))]
    [InlineData(nameof(SocketTransportOptions.ReaderSpin))]
    [InlineData(nameof(SocketTransportOptions.MaxDedicatedReaders))]
    [InlineData(nameof(SocketTransportOptions.KeepAliveRetryCount))]
    public async Task StartAsync_InvalidOptionsSetInCode_FailsNamingTheProperty(string key)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddSockets(o =>
        {
            switch (key)
            {
                case nameof(SocketTransportOptions.ConnectionPoolSize):
                    o.ConnectionPoolSize = 0;
                    break;
                case nameof(SocketTransportOptions.MaxDedicatedReaders):
                    o.MaxDedicatedReaders = 0;
                    break;
                case nameof(SocketTransportOptions.KeepAliveRetryCount):
                    o.KeepAliveRetryCount = 128; // over TCP_KEEPCNT's 127
                    break;
                default:
                    o.ReaderSpin = TimeSpan.FromMilliseconds(11); // over the 10 ms limit
                    break;
            }
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        // Set in code (AddSockets(configure)): no configuration key holds it.
        Assert.StartsWith($"SocketTransportOptions.{key} (set in code, for every endpoint): ", Assert.Single(ex.Failures), StringComparison.Ordinal);
        Assert.DoesNotContain("Ipc:Transports:Sockets", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_InvalidEndpointOptionSetInCode_FailsAClientOnlyHostNamingTheProperty()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddSockets().AddEndpoint("orders", TestAddresses.NewUnixAddress());
        builder.Services.Configure<SocketTransportOptions>("orders", o => o.ConnectionPoolSize = 0);
        using var host = builder.Build();

        // A client only: nothing resolves the endpoint's options before its first call, so the start must check them.
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.StartsWith("SocketTransportOptions.ConnectionPoolSize of endpoint 'orders' (set in code): ", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_InvalidOptionInAnEndpointsSection_FailsAClientOnlyHostNamingTheKey()
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Ipc:Endpoints:orders:Address"] = "unix://" + Path.Combine(Path.GetTempPath(), $"never-{Guid.NewGuid():N}.sock"),
            ["Ipc:Endpoints:orders:Sockets:ConnectionPoolSize"] = "0",
        });
        builder.Services.AddIpc(builder.Configuration.GetSection("Ipc")).AddSockets();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Ipc:Endpoints:orders:Sockets", ex.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(SocketTransportOptions.ConnectionPoolSize), ex.Message, StringComparison.Ordinal);
    }
}
