using System.Diagnostics;
using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.SharedMemory.Tests;

[Trait("Transport", "SharedMemory")]
public sealed class CrossProcessTests
{
    [Fact]
    public async Task RequestAsync_ServerInAnotherProcess_Answers()
    {
        var address = SharedMemoryFiles.NewAddress();

        await TestIpc.AssertServedFromAnotherProcessAsync(address);

        Assert.Empty(SharedMemoryFiles.Of(new Uri(address).Host));
    }

    [Fact]
    public async Task StreamAsync_ServerProcessKilledMidStream_FailsPendingCallsWithinOneSecondThenReconnects()
    {
        var address = SharedMemoryFiles.NewAddress();
        await using var client = TestIpc.CreateClient(address);
        var requests = client.Requests();
        using var timeout = new CancellationTokenSource(TestIpc.Bound);

        await using (var server = await TestServerProcess.StartAsync(address, TestIpc.Bound))
        {
            var blocked = requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
            await using var stream = requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(int.MaxValue)).GetAsyncEnumerator(timeout.Token);
            Assert.True(await stream.MoveNextAsync());
            Assert.Equal(0, stream.Current);
            Assert.False(blocked.IsCompleted);

            await server.KillAsync(TestIpc.Bound);
            var killed = Stopwatch.StartNew();

            var streamFailure = await Assert.ThrowsAsync<IpcException>(async () =>
            {
                while (await stream.MoveNextAsync())
                {
                    // items the server sent before it died
                }
            });
            var requestFailure = await Assert.ThrowsAsync<IpcException>(() => blocked.WaitAsync(TestIpc.Bound));
            var elapsed = killed.Elapsed;

            Assert.Equal(IpcErrorCode.Unavailable, streamFailure.ErrorCode);
            Assert.Equal(IpcErrorCode.Unavailable, requestFailure.ErrorCode);
            Assert.True(elapsed < TimeSpan.FromSeconds(1), $"the pending calls failed {elapsed.TotalMilliseconds:F0} ms after the kill");
        }

        await using (var restarted = await TestServerProcess.StartAsync(address, TestIpc.Bound))
        {
            var sum = await requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(2, 3)).AsTask().WaitAsync(TestIpc.Bound);
            Assert.Equal(new AddResponse(5), sum);
        }

        Assert.Empty(SharedMemoryFiles.Of(new Uri(address).Host));
    }
}
