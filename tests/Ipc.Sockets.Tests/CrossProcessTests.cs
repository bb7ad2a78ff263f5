using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

public sealed class CrossProcessTests
{
    [Fact]
    [Trait("Transport", "UnixSocket")]
    public Task RequestAsync_UnixSocketServerInAnotherProcess_Answers() => TestIpc.AssertServedFromAnotherProcessAsync(TestAddresses.NewUnixAddress());

    [Fact]
    [Trait("Transport", "Tcp")]
    public Task RequestAsync_TcpServerInAnotherProcess_Answers() => TestIpc.AssertServedFromAnotherProcessAsync(TestAddresses.NewTcpAddress());

    [Fact]
    [Trait("Transport", "UnixSocket")]
    public Task RequestAsync_UnixSocketServerProcessKilledMidCall_ThrowsUnavailable() => AssertKilledServerFailsPendingCallAsync(TestAddresses.NewUnixAddress());

    [Fact]
    [Trait("Transport", "Tcp")]
    public Task RequestAsync_TcpServerProcessKilledMidCall_ThrowsUnavailable() => AssertKilledServerFailsPendingCallAsync(TestAddresses.NewTcpAddress());

    /// <summary>
    /// A request pending when its server process is killed fails with Unavailable, the cause, under the default
    /// resilience pipeline: it is not retried (it may have reached its handler), and the breaker does not turn it into CircuitOpen.
    /// </summary>
    private static async Task AssertKilledServerFailsPendingCallAsync(string address)
    {
        await using var server = await TestServerProcess.StartAsync(address, TestIpc.Bound);
        await using var client = TestIpc.CreateClient(address);
        var requests = client.Requests();

        var pending = requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
        Assert.Equal(new AddResponse(3), await requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound));
        Assert.False(pending.IsCompleted);
        await server.KillAsync(TestIpc.Bound);

        var ex = await Assert.ThrowsAsync<IpcException>(() => pending.WaitAsync(TestIpc.Bound));
        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
    }
}
