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

    /// <summary>
    /// A segment a running server made for a client in its handshake stays when a second server of the name starts in the
    /// folder meanwhile (once the first one's socket file went): the second removes only segments whose creator is gone.
    /// </summary>
    [Fact]
    public async Task StartAsync_SecondServerOfTheName_KeepsTheSegmentARunningServerMadeForItsClient()
    {
        var address = SharedMemoryFiles.NewAddress();
        var name = new Uri(address).Host;
        await using (var first = await TestServerProcess.StartAsync(address, TestIpc.Bound))
        {
            using var socket = await HandshakeSocket.ConnectAsync(name);
            var segment = Path.Combine(SharedMemoryFiles.Directory, await HandshakeSocket.ReceiveSegmentNameAsync(socket));
            Assert.True(File.Exists(segment));
            File.Delete(SharedMemoryTransport.SocketPath(SharedMemoryFiles.Directory, name)); // so that a second server can start

            using (var second = await TestIpc.StartServerAsync(address))
            {
                Assert.True(File.Exists(segment), "the second server removed the running server's segment");
                await second.StopAsync().WaitAsync(TestIpc.Bound);
            }

            socket.Dispose(); // the client leaves mid-handshake: the first server removes the segment
        }

        Assert.Empty(SharedMemoryFiles.Of(name));
    }
}
