using System.IO.Pipes;
using Ipc.TestUtils;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ipc.Pipes.Tests;

[Trait("Transport", "Pipes")]
public sealed class PipeTransportTests
{
    [Theory]
    [InlineData("pipe://credentials", "without a path, user name or password")]
    [InlineData("worker://credentials", "a worker:// address has no user name or password")]
    public async Task StartAsync_AddressWithPassword_FailsValidationWithoutShowingIt(string address, string expected) =>
        await TestIpc.AssertRefusesCredentialsAsync(address, expected);

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_NameTooLongForItsSocketPath_FailsValidationSayingWhere()
    {
        // On Linux and macOS .NET makes a pipe a Unix socket in the temporary folder: 120 letters put its path past 108 bytes.
        var name = new string('p', 120);
        var path = Path.Combine(Path.GetTempPath(), "CoreFxPipe_" + name);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TestIpc.StartServerAsync("pipe://" + name));

        Assert.Contains($"is not valid for the Pipes transport: the name is too long: .NET puts this pipe's socket in the temporary folder, and its path '{path}' is {path.Length} bytes, longer than this system lets a Unix socket's path be", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(path));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_CurrentUserOnly_SocketFileHasMode0600()
    {
        // The umask of a test run leaves group or others some bits (0022 or 0002); the file must not follow it.
        var address = TestAddresses.NewPipeAddress();
        using var server = await TestIpc.StartServerAsync(address);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Path.GetTempPath(), "CoreFxPipe_" + new Uri(address).Host)));
    }

    /// <summary>
    /// .NET replaces whatever is at a pipe's socket path when a server starts; the transport first makes sure it is a socket
    /// file (one nobody answers on): anything else there makes start fail, naming it, and stays.
    /// </summary>
    [Theory]
    [InlineData("regular file")]
    [InlineData("directory")]
    [InlineData("symbolic link")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_SomethingElseThanASocketAtThePipesPath_FailsNamingItAndKeepsIt(string kind)
    {
        var address = TestAddresses.NewPipeAddress();
        var path = Path.Combine(Path.GetTempPath(), "CoreFxPipe_" + new Uri(address).Host);
        var target = path + ".target";
        switch (kind)
        {
            case "regular file":
                await File.WriteAllTextAsync(path, "a user's data");
                break;
            case "directory":
                Directory.CreateDirectory(path);
                break;
            default:
                await File.WriteAllTextAsync(target, "a user's data");
                File.CreateSymbolicLink(path, target);
                break;
        }

        try
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync(address));

            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains(kind, ex.Message, StringComparison.Ordinal);
            Assert.True(kind == "directory" ? Directory.Exists(path) : new FileInfo(path).LinkTarget is not null || File.Exists(path), $"the {kind} at the path was removed");
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
    public async Task StartAsync_AnotherServerInThisProcess_FailsAndLeavesItServing()
    {
        var address = TestAddresses.NewPipeAddress();
        using var first = await TestIpc.StartServerAsync(address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync(address));

        Assert.Contains("already listening on " + address, ex.Message, StringComparison.Ordinal);
        await using var client = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task StartAsync_AnotherServerInAnotherProcess_FailsAndLeavesItServing()
    {
        var address = TestAddresses.NewPipeAddress();
        await using var first = await TestServerProcess.StartAsync(address, TestIpc.Bound);

        var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync(address));

        Assert.Contains("already listening on " + address, ex.Message, StringComparison.Ordinal);
        await using var client = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task RequestAsync_NoServer_FailsAtOnceWithUnavailableNamingTheAddress()
    {
        var address = TestAddresses.NewPipeAddress();

        await TestIpc.AssertNoServerFailsAtOnceAsync(address);
    }

    [Fact]
    public async Task RequestAsync_ServerGoneMidCall_ThrowsUnavailableLostDuringTheCall()
    {
        var address = TestAddresses.NewPipeAddress();
        byte[] preface = [.. "IPCW"u8, 2, 0, 0, 0];
        byte[] settings = [0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 100, 0, 0, 0, 0, 4, 0, 0]; // 100 calls, 1,024 one-way messages
        await using var pipe = new NamedPipeServerStream(new Uri(address).Host, PipeDirection.InOut, 1, PipeTransmissionMode.Byte, PipeOptions.Asynchronous | PipeOptions.CurrentUserOnly);

        // A server that answers the handshake, reads the start of the request, and goes away without a word.
        var server = Task.Run(async () =>
        {
            await pipe.WaitForConnectionAsync();
            await pipe.ReadExactlyAsync(new byte[preface.Length]);
            await pipe.WriteAsync(preface);
            await pipe.WriteAsync(settings);
            await pipe.FlushAsync();
            await pipe.ReadExactlyAsync(new byte[1]);
        });
        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

        var call = client.Requests().RequestAsync<string, string>("echo", "x").AsTask();
        await server.WaitAsync(TestIpc.Bound);
        pipe.Disconnect();
        var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.False(ex.NotAccepted);
        Assert.Contains("was lost during the call", ex.Message, StringComparison.Ordinal);
        Assert.Contains(address, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Transports")]
    [InlineData("Endpoints:orders")]
    public async Task StartAsync_InvalidOption_FailsAClientOnlyHostNamingTheKey(string section)
    {
        var ex = await StartFailureAsync(new Dictionary<string, string?>
        {
            ["Ipc:Endpoints:orders:Address"] = $"pipe://never-{Guid.NewGuid():N}",
            [$"Ipc:{section}:Pipes:ConnectionPoolSize"] = "0",
        });

        Assert.Contains($"Ipc:{section}:Pipes:{nameof(PipeTransportOptions.ConnectionPoolSize)}: ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Transports")]
    [InlineData("Endpoints:orders")]
    public async Task StartAsync_NegativeWorkerExitTimeout_FailsNamingTheKey(string section)
    {
        var ex = await StartFailureAsync(new Dictionary<string, string?>
        {
            ["Ipc:Endpoints:orders:Address"] = "worker://orders",
            ["Ipc:Endpoints:orders:Worker:FileName"] = "dotnet",
            [$"Ipc:{section}:Worker:ExitTimeout"] = "-00:00:01",
        });

        Assert.Contains($"Ipc:{section}:Worker:{nameof(WorkerProcessOptions.ExitTimeout)}: ", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Starts a host that is only a client, configured with <paramref name="settings"/>; returns why it did not start.</summary>
    private static async Task<OptionsValidationException> StartFailureAsync(Dictionary<string, string?> settings)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddIpc(builder.Configuration.GetSection("Ipc")).AddPipes();
        using var host = builder.Build();
        return await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
    }
}
