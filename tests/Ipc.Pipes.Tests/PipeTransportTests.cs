using Ipc.TestUtils;

namespace Ipc.Pipes.Tests;

[Trait("Transport", "Pipes")]
public sealed class PipeTransportTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_CurrentUserOnly_SocketFileHasMode0600()
    {
        // The umask of a test run leaves group or others some bits (0022 or 0002); the file must not follow it.
        var address = TestAddresses.NewPipeAddress();
        using var server = await TestIpc.StartServerAsync(address);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Path.GetTempPath(), "CoreFxPipe_" + new Uri(address).Host)));
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
}
