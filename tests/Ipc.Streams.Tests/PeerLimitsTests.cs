using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Ipc.Testing;
using Ipc.TestUtils;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Streams.Tests;

/// <summary>
/// What one client can make a stream-core server hold, tried as an attacker would: hand-written frames over a raw
/// connection. Memory is checked on the managed heap, never by timing, so these tests run alone.
/// </summary>
public abstract class PeerLimitsTests<TMedium> : RawServerTests<TMedium>
    where TMedium : RawMedium, new()
{
    /// <summary>More than any server here may take from a client that reads nothing.</summary>
    private const long UnreadCap = 256L * 1024 * 1024;

    [Fact]
    public async Task Server_ClientNeverReadsResponses_StopsReadingAndBuffersBoundedMemory()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => { });
        var peer = await ConnectAsync(address);
        await peer.SendAsync(RawPeer.Preface);

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var sent = await SendUnreadRequestsAsync(peer);

        var held = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(sent < UnreadCap, $"the server read all {sent:N0} bytes of requests whose answers were never read");
        Assert.True(held < 48L * 1024 * 1024, $"the server holds {held:N0} bytes for a client that reads nothing");
    }

    /// <summary>
    /// MaxOutputBufferSize is what a server buffers for a client that reads nothing before it stops reading that client:
    /// with 64 MiB it takes about 64 MiB more requests from such a client than with 64 KiB. The kernel's buffers hold the
    /// rest, and over TCP on loopback they grow with the machine's load (by 8 MiB and more from one run to the next), so the
    /// test asks for half the difference.
    /// </summary>
    [Fact]
    public async Task Server_MaxOutputBufferSize_IsWhatItBuffersBeforeItStopsReading()
    {
        async Task<long> SentAsync(int maxOutput)
        {
            var address = CreateAddress();
            await StartServerAsync(address, o => o.MaxOutputBufferSize = maxOutput);
            var peer = await ConnectAsync(address);
            await peer.SendAsync(RawPeer.Preface);
            return await SendUnreadRequestsAsync(peer);
        }

        var small = await SentAsync(64 * 1024);
        var large = await SentAsync(64 * 1024 * 1024);

        Assert.True(large < UnreadCap, $"the server read all {large:N0} bytes of requests whose answers were never read");
        Assert.True(large - small > 32L * 1024 * 1024, $"a server buffering 64 MiB took {large:N0} bytes of requests, one buffering 64 KiB {small:N0}");
    }

    [Fact]
    public async Task Server_ClientIgnoresConcurrencyLimit_CallPastItGetsResourceExhausted()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => o.MaxConcurrentCallsPerConnection = 3);
        var peer = await ConnectAsync(address);
        await peer.SendAsync(RawPeer.Preface);
        using var bound = new CancellationTokenSource(s_bound);
        var (maxCalls, _) = await peer.ReadOpeningAsync(bound.Token);
        Assert.Equal(3, maxCalls);

        for (uint id = 1; id <= 4; id++)
        {
            await peer.SendAsync(RawPeer.Request(id, ConformanceRoutes.Block, new byte[] { 0xA1, (byte)'x' })); // MessagePack "x"; blocks until cancelled
        }

        var frame = await peer.ReadFrameAsync(bound.Token);
        Assert.NotNull(frame);
        Assert.Equal((FrameType.Response, 4u), (frame.Value.Type, frame.Value.CallId));
        var fault = WireFormat.DecodeFault(frame.Value.Body);
        Assert.Equal(IpcErrorCode.ResourceExhausted, fault.ErrorCode);
        Assert.Contains("MaxConcurrentCallsPerConnection", fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_MoreCallsThanServerAllows_ClientQueuesThemAndAllSucceed()
    {
        var address = CreateAddress();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = 0;
        var most = 0;
        await StartServerAsync(address, o => o.MaxConcurrentCallsPerConnection = 4, server => server.MapRequest<int, int>("slow", async (x, _, ct) =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            await gate.Task.WaitAsync(ct);
            Interlocked.Decrement(ref running);
            return x;
        }));
        await using var client = TestIpc.CreateClient(address, ConfigureClient);

        var calls = Enumerable.Range(0, 20).Select(i => client.Requests().RequestAsync<int, int>("slow", i).AsTask()).ToList();
        await WaitUntilAsync(() => Volatile.Read(ref running) == 4);
        gate.SetResult();

        Assert.Equal(Enumerable.Range(0, 20), await Task.WhenAll(calls).WaitAsync(s_bound));
        Assert.Equal(4, Volatile.Read(ref most));
    }

    [Theory]
    [InlineData(3, 0)] // half of a small frame
    [InlineData(256 * 1024, 100 * 1024)] // a large body, whose rest a dedicated reader reads straight into its buffer
    public async Task Server_FrameStalledHalfway_IsClosedAfterFrameTimeout(int bodyLength, int sent)
    {
        var address = CreateAddress();
        var time = new FakeTimeProvider();
        await StartServerAsync(address, o => o.FrameTimeout = TimeSpan.FromSeconds(30), time: time);
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        var frame = bodyLength == 3 ? RawPeer.Request(1, ConformanceRoutes.Add, new byte[] { 0x92, 1, 2 }) : RawPeer.Request(1, ConformanceRoutes.Raw, new byte[bodyLength]);
        await peer.SendAsync(RawPeer.Preface.Concat(frame.Take(sent > 0 ? sent : frame.Length / 2)).ToArray());
        await peer.ReadOpeningAsync(bound.Token);

        // The server arms the frame's clock once it has read the half frame; time moves on until it closes the connection.
        var next = peer.ReadFrameAsync(bound.Token);
        while (!next.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(next, Task.Delay(TimeSpan.FromMilliseconds(10)));
        }

        Assert.Null(await next); // closed, with no answer to the half frame
        Assert.True(time.GetUtcNow() - time.Start >= TimeSpan.FromSeconds(30), "closed before the FrameTimeout");
    }

    /// <summary>
    /// FrameTimeout bounds how long the peer takes to finish a frame, not how long this side takes to handle it: a one-way
    /// handler that the frame loop waits for (inline handlers keep one-way messages in order that way), on a frame that
    /// arrived over two reads, must not get the connection closed as a stalled frame.
    /// </summary>
    [Fact]
    public async Task Server_InlineOneWayHandlerOutlastsFrameTimeout_OnAFrameThatArrivedInTwoReads_KeepsTheConnection()
    {
        var address = CreateAddress();
        var time = new FakeTimeProvider();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartServerAsync(
            address,
            o =>
            {
                o.UnsafePreferInlineHandlers = true;
                o.FrameTimeout = TimeSpan.FromSeconds(30);
            },
            server => server.MapMessage<byte[]>("gated", async (_, _, _) =>
            {
                started.TrySetResult();
                await gate.Task;
            }),
            time);
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        var oneWay = RawPeer.Request(0, "gated", new byte[] { 0xC4, 1, 7 }, FrameType.OneWay); // MessagePack bin of one byte

        // A request and the first half of the one-way frame in one write: once the request is answered, the server has
        // read that half (and armed the frame's clock). Then the rest, whose handler waits.
        await peer.SendAsync(RawPeer.Preface.Concat(RawPeer.Request(1, ConformanceRoutes.Add, new byte[] { 0x92, 1, 2 })).Concat(oneWay.Take(oneWay.Length / 2)).ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        var first = await peer.ReadFrameAsync(bound.Token);
        Assert.Equal((FrameType.Response, 1u), (first!.Value.Type, first.Value.CallId));
        await peer.SendAsync(oneWay.Skip(oneWay.Length / 2).ToArray());
        await started.Task.WaitAsync(bound.Token);

        time.Advance(TimeSpan.FromSeconds(31)); // the peer finished its frame long ago; this side's handler is what takes the time
        gate.SetResult();
        await peer.SendAsync(RawPeer.Request(2, ConformanceRoutes.Add, new byte[] { 0x92, 1, 2 }));

        var second = await peer.ReadFrameAsync(bound.Token);
        Assert.NotNull(second); // null: the server closed the connection
        Assert.Equal((FrameType.Response, 2u), (second.Value.Type, second.Value.CallId));
    }

    /// <summary>
    /// A stopping server's GoAway names the last call it runs; the client sends any call past it again elsewhere, so the
    /// server must not run one it reads after the GoAway (here a request queued behind a one-way message whose inline
    /// handler held the frame loop while the server stopped), or that call runs twice.
    /// </summary>
    [Fact]
    public async Task Server_Stopping_DoesNotRunACallPastTheLastCallIdOfItsGoAway()
    {
        var address = CreateAddress();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ran = 0;
        var host = await StartServerAsync(
            address,
            o => o.UnsafePreferInlineHandlers = true,
            server => server
                .MapMessage<byte[]>("gated", async (_, _, _) =>
                {
                    started.TrySetResult();
                    await gate.Task;
                })
                .MapRequest<int, int>("counted", x =>
                {
                    Interlocked.Increment(ref ran);
                    return x;
                })
                .MapMessage<byte[]>("after", (_, _, _) =>
                {
                    after.TrySetResult();
                    return ValueTask.CompletedTask;
                }));
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface
            .Concat(RawPeer.Request(0, "gated", new byte[] { 0xC4, 1, 7 }, FrameType.OneWay))
            .Concat(RawPeer.Request(1, "counted", new byte[] { 1 }))
            .Concat(RawPeer.Request(0, "after", new byte[] { 0xC4, 1, 7 }, FrameType.OneWay))
            .ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        await started.Task.WaitAsync(bound.Token);

        var stopping = host.StopAsync(bound.Token);
        var goAway = await peer.ReadFrameAsync(bound.Token);
        Assert.Equal((FrameType.GoAway, 0u), (goAway!.Value.Type, goAway.Value.CallId)); // it read no call: call 1 goes elsewhere
        gate.SetResult();
        await after.Task.WaitAsync(bound.Token); // the one-way message sent after call 1 ran: the server read call 1 too
        await peer.DisposeAsync(); // the client closes, and the stop ends
        await stopping.WaitAsync(bound.Token);

        Assert.Equal(0, Volatile.Read(ref ran));
    }

    /// <summary>
    /// A client that does not close its side after a stopping server's GoAway, with one-way messages it sent that the
    /// server had not read yet (held back here by MaxQueuedOneWayBytes behind a handler that runs until its token is
    /// cancelled): once the server's wait for the close ends, it still reads what has arrived, so each of those messages is
    /// handled or, when the DrainTimeout ends first (as here), logged and counted as not delivered; none is lost unseen.
    /// </summary>
    [Fact]
    public async Task Server_StoppingWhileOneWayMessagesWaitUnread_ReportsEachAsNotDelivered()
    {
        var address = CreateAddress();
        var time = new TimerFakeTimeProvider();
        var drain = TimeSpan.FromSeconds(10);
        var log = new RecordingLog();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = 0;
        var host = await StartServerAsync(
            address,
            o => o.MaxQueuedOneWayBytes = 64 * 1024,
            server => server
                .MapMessage<byte[]>("unread-held", async (_, _, ct) =>
                {
                    started.TrySetResult();
                    await Task.Delay(Timeout.Infinite, ct); // until the DrainTimeout ends
                })
                .MapMessage<byte[]>("unread-late", (_, _, _) =>
                {
                    Interlocked.Increment(ref handled);
                    return ValueTask.CompletedTask;
                }),
            time,
            e => e.DrainTimeout = drain,
            services => services.AddLogging(logging => logging.AddProvider(log)));
        using var failed = new MetricCollector<long>(host.Services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.server.message.failed");
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);

        // The first message's 64 KiB body is all the server queues: it takes no further frame while its handler runs.
        byte[] held = [0xC6, 0, 1, 0, 0, .. new byte[64 * 1024]]; // MessagePack bin of 65,536 bytes
        await peer.SendAsync(RawPeer.Preface
            .Concat(RawPeer.OneWay("held-1", "unread-held", held))
            .Concat(RawPeer.OneWay("late-1", "unread-late", new byte[] { 0xC4, 1, 7 }))
            .Concat(RawPeer.OneWay("late-2", "unread-late", new byte[] { 0xC4, 1, 8 }))
            .ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        await started.Task.WaitAsync(bound.Token);

        var stopping = host.StopAsync(bound.Token);
        Assert.Equal(FrameType.GoAway, (await peer.ReadFrameAsync(bound.Token))?.Type); // and the client never closes
        await time.WaitForTimerAsync(drain, s_bound);
        time.Advance(drain);
        await stopping.WaitAsync(bound.Token);

        await failed.WaitForMeasurementsAsync(2, s_bound);
        Assert.Equal(2, failed.GetMeasurementSnapshot().Where(m => Equals(m.Tags["messaging.destination.name"], "unread-late")).Sum(m => m.Value));
        Assert.Equal(0, Volatile.Read(ref handled));
        var notDelivered = log.Entries.Where(e => e.Level == LogLevel.Error && e.Message.Contains("not delivered", StringComparison.Ordinal)).Select(e => e.Message).ToList();
        Assert.Contains(notDelivered, m => m.Contains("late-1", StringComparison.Ordinal));
        Assert.Contains(notDelivered, m => m.Contains("late-2", StringComparison.Ordinal));
    }

    /// <summary>
    /// A client of Ipc whose one-way writes wait when the server stops: the server holds back reading
    /// (MaxQueuedOneWayBytes, behind a handler that waits), and the client has sent as much as its output buffer takes. The
    /// server reads on from its GoAway, holding nothing back, so the client's writes drain before it closes: every message
    /// the client accepted is handled, none cut off by the close in the middle of a write, where neither side would report
    /// it. What a stopping server reads after its GoAway is bounded by MaxQueuedOneWayBytes plus MaxMessageSize; frames
    /// past that bound are lost unreported (docs say so), so the test sets MaxQueuedOneWayBytes above what the medium can
    /// hold: TCP on loopback grows its buffers up to tcp_rmem's and tcp_wmem's maximum (32 MiB and 4 MiB here), over the
    /// default 16 MiB.
    /// </summary>
    [Fact]
    public async Task Server_StoppingWhileAClientsOneWayWritesWait_HandlesEveryAcceptedMessage()
    {
        var address = CreateAddress();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        var host = await StartServerAsync(address, o => o.MaxQueuedOneWayBytes = MoreThanTheMediumHolds(), server => server.MapMessage<byte[]>("held-writes", async (body, _, _) =>
        {
            var number = BitConverter.ToInt32(body);
            if (number == 0)
            {
                started.TrySetResult();
                await gate.Task;
            }

            handled.AddOrUpdate(number, 1, (_, count) => count + 1);
        }));
        await using var client = TestIpc.CreateClient(address, ipc =>
        {
            ConfigureClient(ipc);
            ipc.ConfigureResilience(r => r.Enabled = false);
        });
        var channel = client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint);
        static byte[] Numbered(int number) => [.. BitConverter.GetBytes(number), .. new byte[64 * 1024]];
        await channel.SendAsync("held-writes", Numbered(0)).AsTask().WaitAsync(s_bound);
        await started.Task.WaitAsync(s_bound);

        // Sent one after another until one waits for room: the server holds its MaxQueuedOneWayBytes of bodies and
        // takes no more, its input and the medium are full, and so is the client's output, whose write to the medium waits.
        var accepted = new List<int> { 0 };
        Task? waiting = null;
        for (var number = 1; waiting is null && number < 4096; number++)
        {
            var send = channel.SendAsync("held-writes", Numbered(number)).AsTask();
            if (await Task.WhenAny(send, Task.Delay(TimeSpan.FromMilliseconds(500))) == send)
            {
                await send;
                accepted.Add(number);
            }
            else
            {
                waiting = send;
            }
        }

        Assert.NotNull(waiting);
        var stopping = host.StopAsync().WaitAsync(s_bound);
        try
        {
            await waiting.WaitAsync(s_bound); // room once the client's writes drain, or failed once its connection closed
            accepted.Add(accepted.Count);
        }
        catch (IpcException)
        {
        }

        gate.SetResult();
        await stopping;

        var lost = accepted.Where(number => !handled.ContainsKey(number)).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of the {accepted.Count} accepted messages were never handled: {string.Join(", ", lost.Take(10))}...");
        Assert.All(handled.Values, count => Assert.Equal(1, count));
    }

    /// <summary>
    /// A MaxQueuedOneWayBytes over what a client's output (1 MiB) and the medium can hold: on Linux, TCP's largest receive
    /// and send buffers (the third number of tcp_rmem and tcp_wmem) and 8 MiB more; 16 MiB at least.
    /// </summary>
    private static int MoreThanTheMediumHolds()
    {
        static long Largest(string file) =>
            OperatingSystem.IsLinux() && File.Exists(file) && File.ReadAllText(file).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) is [_, _, var max]
                ? long.Parse(max, System.Globalization.CultureInfo.InvariantCulture)
                : 0;

        var medium = Largest("/proc/sys/net/ipv4/tcp_rmem") + Largest("/proc/sys/net/ipv4/tcp_wmem");
        return (int)Math.Clamp(medium + (8L * 1024 * 1024), 16L * 1024 * 1024, 512L * 1024 * 1024);
    }

    [Fact]
    public async Task Server_LargeAndSmallRequestsInOneWrite_AnswersEachWithItsOwnBody()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => { });
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);

        // Large bodies arrive over many reads, and the frames after one share a read with its last bytes.
        var bodies = new[] { 200_000, 3, 150_001, 70_000, 5 }.Select((length, i) =>
        {
            var body = new byte[length];
            new Random(i).NextBytes(body);
            return body;
        }).ToArray();
        var frames = bodies.SelectMany((body, i) => RawPeer.Request((uint)(i + 1), ConformanceRoutes.Raw, body));
        await peer.SendAsync(RawPeer.Preface.Concat(frames).ToArray());
        await peer.ReadOpeningAsync(bound.Token);

        var answers = new Dictionary<uint, byte[]>();
        while (answers.Count < bodies.Length)
        {
            var frame = await peer.ReadFrameAsync(bound.Token);
            Assert.NotNull(frame);
            Assert.Equal(FrameType.Response, frame.Value.Type);
            answers.Add(frame.Value.CallId, frame.Value.Body);
        }

        for (var i = 0; i < bodies.Length; i++)
        {
            Assert.Equal(bodies[i].Reverse(), answers[(uint)(i + 1)]); // the raw route answers with the body reversed
        }
    }

    [Fact]
    public async Task Server_IdleConnection_IsLetGoAndTheClientReconnectsWithoutFailing()
    {
        var address = CreateAddress();
        var time = new FakeTimeProvider();
        await StartServerAsync(address, o => o.IdleTimeout = TimeSpan.FromMinutes(1), time: time);
        await using var client = TestIpc.CreateClient(address, ConfigureClient);
        var first = await client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(s_bound);
        var peer = await ConnectAsync(address);
        await peer.SendAsync(RawPeer.Preface.Concat(RawPeer.Request(1, ConformanceRoutes.Add, new byte[] { 0x92, 1, 2 })).ToArray());
        using var bound = new CancellationTokenSource(s_bound);
        await peer.ReadOpeningAsync(bound.Token);
        Assert.Equal(FrameType.Response, (await peer.ReadFrameAsync(bound.Token))?.Type); // the server has read this connection's preface

        time.Advance(TimeSpan.FromSeconds(74)); // under 1.25 times the timeout: not yet
        time.Advance(TimeSpan.FromSeconds(2));
        var goAway = await peer.ReadFrameAsync(bound.Token);
        var second = await client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(3, 4)).AsTask().WaitAsync(s_bound);

        Assert.Equal(FrameType.GoAway, goAway?.Type);
        Assert.Equal((3, 7), (first.Sum, second.Sum));
    }

    [Fact]
    public async Task Server_FrameOverMaxHeaderSize_ClosesThatConnectionAndServesOthers()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => o.MaxHeaderSize = 1024);
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);

        // A route of 2,000 bytes: its frame's metadata is past the 1,024 bytes this server takes (the default takes 64 KiB).
        await peer.SendAsync(RawPeer.Preface.Concat(RawPeer.Request(1, new string('r', 2000), new byte[] { 0xA1, (byte)'x' })).ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        var frames = new List<FrameType>();
        while (await peer.ReadFrameAsync(bound.Token) is { } frame)
        {
            frames.Add(frame.Type);
        }

        Assert.DoesNotContain(FrameType.Response, frames); // closed without taking the call
        Assert.All(frames, type => Assert.Equal(FrameType.GoAway, type));
        await using var client = TestIpc.CreateClient(address, ConfigureClient);
        await TestIpc.AssertServesAsync(client);
    }

    [Fact]
    public async Task Server_MoreConnectionsThanMaxConnections_TheNextIsToldResourceExhausted()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => o.MaxConnections = 2);
        using var bound = new CancellationTokenSource(s_bound);
        for (var i = 0; i < 2; i++)
        {
            var admitted = await ConnectAsync(address);
            await admitted.SendAsync(RawPeer.Preface);
            await admitted.ReadOpeningAsync(bound.Token);
        }

        await using var client = TestIpc.CreateClient(address, ConfigureClient);
        var error = await Assert.ThrowsAsync<IpcException>(() =>
            client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(s_bound));

        Assert.Equal(IpcErrorCode.ResourceExhausted, error.ErrorCode);
        Assert.Contains("MaxConnections", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_CallIdSentAgainWhileItsCallRuns_IsAFormatErrorButAnIdSharingItsSlotIsNot()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => { });
        var peer = await ConnectAsync(address);
        await peer.SendAsync(RawPeer.Preface);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.ReadOpeningAsync(bound.Token);

        // Call 1 runs until it is cancelled; call 129 falls in the same slot of the server's table of calls, and is answered.
        await peer.SendAsync(RawPeer.Request(1, ConformanceRoutes.Block, new byte[] { 0xA1, (byte)'x' }));
        await peer.SendAsync(RawPeer.Request(129, ConformanceRoutes.Raw, new byte[] { 1, 2, 3 }));
        var answer = await peer.ReadFrameAsync(bound.Token);
        Assert.NotNull(answer);
        Assert.Equal((FrameType.Response, 129u), (answer.Value.Type, answer.Value.CallId));
        Assert.Equal(new byte[] { 3, 2, 1 }, answer.Value.Body);

        await peer.SendAsync(RawPeer.Request(1, ConformanceRoutes.Raw, new byte[] { 1 })); // call 1 again, while it runs
        IpcFault? goAway = null;
        while (await peer.ReadFrameAsync(bound.Token) is { } frame)
        {
            goAway = frame.Type == FrameType.GoAway ? WireFormat.DecodeFault(frame.Body) : goAway;
        }

        Assert.NotNull(goAway);
        Assert.Equal(IpcErrorCode.ProtocolError, goAway.ErrorCode);
        Assert.Contains("call id 1 was reused while its call is still running", goAway.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_FormatErrorWhileAnswering_SendsGoAwayBeforeItCloses()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => { });
        var body = new byte[64 * 1024];
        byte[] broken = [0x7F, .. new byte[15]]; // an unknown frame type

        // The raw client reads on this process's thread pool, where the server's flusher blocks in its writes until the
        // client has read: with the pool at its minimum (as many threads as processors) the client's reads could wait for
        // the pool to add a thread for longer than the server's one-second bound on its GoAway, and the connection then
        // closes without it (about one run in five on two processors). A client in a process of its own has threads of its
        // own; this one gets enough to keep reading.
        ThreadPool.GetMinThreads(out var workers, out var completions);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), completions);
        try
        {
            await SendFormatErrorWhileAnsweringAsync(address, body, broken);
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, completions);
        }
    }

    private async Task SendFormatErrorWhileAnsweringAsync(string address, byte[] body, byte[] broken)
    {
        for (var round = 0; round < 10; round++)
        {
            // 2.5 MiB of answers: more than the server buffers, so it is still writing them when it reads the broken
            // frame, and the GoAway that says why must get out behind them before the connection closes.
            var peer = await ConnectAsync(address);
            var input = new List<byte>(RawPeer.Preface);
            for (uint id = 1; id <= 40; id++)
            {
                input.AddRange(RawPeer.Request(id, ConformanceRoutes.Raw, body));
            }

            using var bound = new CancellationTokenSource(s_bound);
            var sending = peer.SendAsync(input.ToArray()).AsTask();
            await peer.ReadOpeningAsync(bound.Token);
            Assert.Equal(FrameType.Response, (await peer.ReadFrameAsync(bound.Token))?.Type);
            await sending;
            await peer.SendAsync(broken);
            var goAway = false;
            while (await peer.ReadFrameAsync(bound.Token) is { } frame)
            {
                goAway |= frame.Type == FrameType.GoAway && WireFormat.DecodeFault(frame.Body).ErrorCode == IpcErrorCode.ProtocolError;
            }

            Assert.True(goAway, $"round {round}: the connection ended without a GoAway");
        }
    }

    [Fact]
    public async Task Server_ConnectionsThatNeverSendAPreface_HoldLittleMemoryEach()
    {
        // 200 connections are 400 descriptors in this process, client and server ends: the test stays well within the 1,024
        // a process may be held to.
        const int count = 200;
        var address = CreateAddress();
        await StartServerAsync(address, o => { });
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var peers = new List<RawPeer>();
        for (var i = 0; i < count; i++)
        {
            peers.Add(await ConnectAsync(address));
        }

        // The server has sent each its preface and Settings: read them, so the medium holds nothing for the test.
        using var bound = new CancellationTokenSource(s_bound);
        foreach (var peer in peers)
        {
            await peer.ReadOpeningAsync(bound.Token);
        }

        // Both ends are in this process. A named pipe outside Windows completes a zero-byte read at once, so a pipe
        // connection that reads asynchronously (past MaxDedicatedReaders) holds its 16 KiB read buffer while idle;
        // sockets wait for data first and hold none. Before buffers were allocated on first use, it was 300 KiB.
        var each = (GC.GetTotalMemory(forceFullCollection: true) - before) / count;
        Assert.True(each < 32 * 1024, $"each connection that sent nothing holds {each:N0} bytes");
    }

    /// <summary>
    /// Sends requests of 64 KiB to a route that answers with as many bytes, as fast as the server takes them, and reads
    /// none of the answers, until a write does not complete within 2 seconds (the server stopped reading: this client is
    /// held back) or <see cref="UnreadCap"/> bytes are sent. Returns the bytes sent.
    /// </summary>
    private static async Task<long> SendUnreadRequestsAsync(RawPeer peer)
    {
        var body = new byte[64 * 1024];
        long sent = 0;
        for (uint id = 1; sent < UnreadCap; id++)
        {
            var frame = RawPeer.Request(id, ConformanceRoutes.Raw, body);
            var write = peer.SendAsync(frame).AsTask();
            if (await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(2))) != write)
            {
                break;
            }

            await write;
            sent += frame.Length;
        }

        return sent;
    }
}

public sealed class PipePairPeerLimitsTests : PeerLimitsTests<PipePairMedium>;

public sealed class UnixSocketPeerLimitsTests : PeerLimitsTests<UnixSocketMedium>;

public sealed class TcpPeerLimitsTests : PeerLimitsTests<TcpMedium>;

public sealed class NamedPipePeerLimitsTests : PeerLimitsTests<NamedPipeMedium>;
