using System.Collections.Concurrent;

namespace Ipc.Streams.Tests;

/// <summary>
/// A server whose dedicated reader runs the handlers of one read writes their responses together once they are done,
/// over a real Unix socket, checked from a raw client's socket (what has reached it, and when).
/// </summary>
public sealed class HeldWritesTests : RawServerTests<UnixSocketMedium>
{
    [Fact]
    public async Task Server_TwoRequestsInOneRead_FirstResponseWaitsForTheSecondHandlerThenBothArrive()
    {
        var address = CreateAddress();
        var seenBySecond = new ConcurrentQueue<(bool OnReader, int Available)>();
        await StartServerAsync(address, o => { }, server => server
            .MapRequest<int, int>("first", x => x)
            .MapRequest<int, int>("second", x =>
            {
                // On the reader, after the first handler returned: its response would be on the client's socket already had
                // it been written at once.
                seenBySecond.Enqueue((Thread.CurrentThread.Name == "Ipc connection reader", Medium.LastSocket!.Available));
                return x;
            }));
        var peer = await ConnectAsync(address);
        await peer.SendAsync(RawPeer.Preface);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.ReadOpeningAsync(bound.Token);

        // A pair whose handlers ran on a thread pool thread instead (a reader replaced while the first call of a route was
        // compiled, say) shows nothing: the pair is sent again, up to a bound.
        for (uint id = 1; id < 40; id += 2)
        {
            await peer.SendAsync(RawPeer.Request(id, "first", new byte[] { 1 }).Concat(RawPeer.Request(id + 1, "second", new byte[] { 2 })).ToArray());
            var first = await peer.ReadFrameAsync(bound.Token);
            var second = await peer.ReadFrameAsync(bound.Token);
            Assert.Equal([id, id + 1], new[] { first!.Value.CallId, second!.Value.CallId }.Order());
            Assert.True(seenBySecond.TryDequeue(out var seen));
            if (seen.OnReader)
            {
                Assert.Equal(0, seen.Available);
                return;
            }
        }

        Assert.Fail("the second handler never ran on the reader after the first");
    }

    [Fact]
    public async Task Server_HandlerBlocksTheReaderAfterAnotherAnswered_ResponseGoesOutOnceTheReaderIsReplaced()
    {
        var address = CreateAddress();
        using var release = new ManualResetEventSlim();
        await StartServerAsync(address, o => { }, server => server
            .MapRequest<int, int>("first", x => x)
            .MapRequest<int, int>("blocks", x =>
            {
                release.Wait(s_bound); // holds the reader until the test has the first response
                return x;
            }));
        var peer = await ConnectAsync(address);
        await peer.SendAsync(RawPeer.Preface);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.ReadOpeningAsync(bound.Token);

        try
        {
            await peer.SendAsync(RawPeer.Request(1, "first", new byte[] { 1 }).Concat(RawPeer.Request(2, "blocks", new byte[] { 2 })).ToArray());

            // The first response waits behind the blocked handler only until the watchdog hands reading to a new thread.
            var first = await peer.ReadFrameAsync(bound.Token);
            Assert.Equal(1u, first!.Value.CallId);
        }
        finally
        {
            release.Set();
        }

        var second = await peer.ReadFrameAsync(bound.Token);
        Assert.Equal(2u, second!.Value.CallId);
    }
}
