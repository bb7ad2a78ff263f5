using System.Text;
using Ipc.Testing;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

/// <summary>
/// The stream core's flow control, frame by frame: stream items within the credit a client grants, one-way messages
/// within the grant a server announces and renews as their handlers finish.
/// </summary>
public abstract class FlowControlTests<TMedium> : RawServerTests<TMedium>
    where TMedium : RawMedium, new()
{
    [Fact]
    public async Task Stream_ItemsBeyondTheCredit_WaitForTheClientsGrant()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => { });
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface.Concat(RawPeer.Request(1, ConformanceRoutes.Range, Map("Count", 1000), FrameType.StreamRequest)).ToArray());
        await peer.ReadOpeningAsync(bound.Token);

        // Each request answered shows what the server sent before it: never more items than granted.
        Assert.Equal(WireFormat.InitialStreamCredit, await ItemsBeforeAnswerAsync(peer, callId: 2, bound.Token, atLeast: WireFormat.InitialStreamCredit));
        await peer.SendAsync(Credit(1, 128));
        Assert.Equal(128, await ItemsBeforeAnswerAsync(peer, callId: 3, bound.Token, atLeast: 128));
    }

    [Fact]
    public async Task Stream_IdUsedAgainRightAfterItsCancel_TheNewStreamKeepsItsCredit()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => { }, routes: server => server.MapStream<int, int>("endless", Endless));
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface.Concat(RawPeer.Request(7, "endless", new byte[] { 0 }, FrameType.StreamRequest)).ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        Assert.Equal(WireFormat.InitialStreamCredit, await ItemsBeforeAnswerAsync(peer, callId: 8, bound.Token, atLeast: WireFormat.InitialStreamCredit));

        // The client gives up on call 7 and starts a new call 7 at once: the first call's end, which comes later, must
        // not take the new one out of the server's table (its credit would then be ignored and it would stall).
        byte[] cancel = [(byte)FrameType.Cancel, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        await peer.SendAsync(cancel.Concat(RawPeer.Request(7, "endless", new byte[] { 0 }, FrameType.StreamRequest)).ToArray());
        Assert.Equal(WireFormat.InitialStreamCredit, await ItemsBeforeAnswerAsync(peer, callId: 9, bound.Token, atLeast: WireFormat.InitialStreamCredit));
        await peer.SendAsync(Credit(7, 64));

        Assert.Equal(64, await ItemsBeforeAnswerAsync(peer, callId: 10, bound.Token, atLeast: 64));
    }

    [Fact]
    public async Task OneWay_MoreThanGranted_ClosesTheConnectionWithProtocolError()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => o.MaxQueuedOneWayMessages = 4);
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface);
        Assert.Equal(4, (await peer.ReadOpeningAsync(bound.Token)).OneWayWindow);

        for (uint i = 1; i <= 5; i++)
        {
            await peer.SendAsync(RawPeer.Request(0, ConformanceRoutes.Held, Map("Data", "x"), FrameType.OneWay)); // held until the test ends
        }

        var goAway = await peer.ReadFrameAsync(bound.Token);
        Assert.Equal(FrameType.GoAway, goAway?.Type);
        var fault = WireFormat.DecodeFault(goAway!.Value.Body);
        Assert.Equal(IpcErrorCode.ProtocolError, fault.ErrorCode);
        Assert.Contains("MaxQueuedOneWayMessages", fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OneWay_HandledMessages_AreGrantedBackInBatchesOfHalfTheWindow()
    {
        var address = CreateAddress();
        await StartServerAsync(address, o => o.MaxQueuedOneWayMessages = 4);
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface);
        await peer.ReadOpeningAsync(bound.Token);

        var granted = 0;
        for (var round = 0; round < 3; round++)
        {
            // A full window each round: only the grants of the round before allow it.
            for (var i = 0; i < 4; i++)
            {
                await peer.SendAsync(RawPeer.Request(0, ConformanceRoutes.Numbers, Map("Value", i), FrameType.OneWay));
            }

            for (var received = 0; received < 4;)
            {
                var frame = await peer.ReadFrameAsync(bound.Token);
                Assert.Equal(FrameType.OneWayCredit, frame?.Type);
                var credit = (int)WireFormat.ReadCredit(frame!.Value.Body);
                Assert.Equal(2, credit);
                received += credit;
                granted += credit;
            }
        }

        Assert.Equal(12, granted);
    }

    [Fact]
    public async Task OneWay_TooLargeMessagesAmongOthers_EachIsGrantedBackOnce()
    {
        // Too large messages are dropped (and granted back) by the frame loop while the one-way drain handles (and grants
        // back) the others: no grant may be lost or doubled, or the client would stall or be closed.
        var address = CreateAddress();
        await StartServerAsync(address, o => o.MaxQueuedOneWayMessages = 8, endpoint: e => e.MaxMessageSize = 1024);
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface);
        await peer.ReadOpeningAsync(bound.Token);
        var small = RawPeer.Request(0, ConformanceRoutes.Numbers, Map("Value", 1), FrameType.OneWay);
        var large = RawPeer.Request(0, ConformanceRoutes.Numbers, new byte[1025], FrameType.OneWay);

        // As a client does: send while the grant lasts, then wait for more. The server holds back less than a batch
        // (half the window), so at the end at least 5 of the 8 come back.
        const int Total = 20_000;
        var credit = 8;
        var sent = 0;
        while (sent < Total || credit < 5)
        {
            if (credit > 0 && sent < Total)
            {
                var count = Math.Min(credit, Total - sent);
                await peer.SendAsync(Enumerable.Range(sent, count).SelectMany(i => i % 2 == 0 ? small : large).ToArray());
                sent += count;
                credit -= count;
                continue;
            }

            var frame = await peer.ReadFrameAsync(bound.Token);
            Assert.True(frame?.Type == FrameType.OneWayCredit, $"after {sent} messages: {frame?.Type.ToString() ?? "the connection closed"} instead of a grant");
            credit += (int)WireFormat.ReadCredit(frame!.Value.Body);
            Assert.True(credit <= 8, $"after {sent} messages: {credit} granted with none outstanding past the window of 8");
        }
    }

    [Fact]
    public async Task OneWay_ClientGoneWhileAHandlerWaits_TheMessagesQueuedBehindItAreStillHandledInOrder()
    {
        var address = CreateAddress();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new System.Collections.Concurrent.ConcurrentQueue<int>();
        await StartServerAsync(address, o => { }, routes: server => server.MapMessage<Numbered>("gated", async (message, _, _) =>
        {
            if (message.Value == 0)
            {
                started.TrySetResult();
                await gate.Task;
            }

            handled.Enqueue(message.Value);
        }));
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface.Concat(Enumerable.Range(0, 5).SelectMany(i => RawPeer.Request(0, "gated", Map("Value", i), FrameType.OneWay))).ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        await started.Task.WaitAsync(bound.Token);

        await peer.DisposeAsync(); // the client leaves with four messages queued behind the waiting handler
        gate.SetResult();

        await WaitUntilAsync(() => handled.Count == 5);
        Assert.Equal([0, 1, 2, 3, 4], handled);
    }

    [Fact]
    public async Task OneWay_BodiesQueuedPastTheByteLimit_TheServerTakesNoMoreFramesUntilHandlersCatchUp()
    {
        var address = CreateAddress();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new System.Collections.Concurrent.ConcurrentQueue<int>();
        await StartServerAsync(address, o => o.MaxQueuedOneWayBytes = 64 * 1024, routes: server => server.MapMessage<byte[]>("held-bytes", async (body, _, _) =>
        {
            if (body[0] == 0)
            {
                started.TrySetResult();
                await gate.Task;
            }

            handled.Enqueue(body[0]);
        }));
        var peer = await ConnectAsync(address);
        using var bound = new CancellationTokenSource(s_bound);
        await peer.SendAsync(RawPeer.Preface.Concat(RawPeer.Request(0, "held-bytes", Bin(0, 20_000), FrameType.OneWay)).ToArray());
        await peer.ReadOpeningAsync(bound.Token);
        await started.Task.WaitAsync(bound.Token);

        // 20,000 bytes held by the waiting handler and three more queued behind it make 80,000, past the 65,536 allowed:
        // the fifth message, and the request after it, are not taken on while the handler waits.
        await peer.SendAsync(Enumerable.Range(1, 4).SelectMany(i => RawPeer.Request(0, "held-bytes", Bin(i, 20_000), FrameType.OneWay))
            .Concat(RawPeer.Request(9, ConformanceRoutes.Add, Map(("A", 1), ("B", 2)))).ToArray());
        using (var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => peer.ReadFrameAsync(quiet.Token));
        }

        gate.SetResult();
        while (await peer.ReadFrameAsync(bound.Token) is { } frame && !(frame.Type == FrameType.Response && frame.CallId == 9))
        {
            Assert.Equal(FrameType.OneWayCredit, frame.Type);
        }

        await WaitUntilAsync(() => handled.Count == 5);
        Assert.Equal([0, 1, 2, 3, 4], handled);
    }

    /// <summary>A <c>byte[]</c> of <paramref name="length"/> bytes starting with <paramref name="first"/>, as MessagePack writes it (bin 32).</summary>
    private static byte[] Bin(int first, int length)
    {
        var bytes = new byte[5 + length];
        bytes[0] = 0xC6;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), length);
        bytes[5] = (byte)first;
        return bytes;
    }

    private static async IAsyncEnumerable<int> Endless(int start, IpcContext context, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = start; ; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return i;
        }
    }

    /// <summary>Sends an Add request as <paramref name="callId"/>; counts the stream items that arrive before its answer.</summary>
    private static async Task<int> ItemsBeforeAnswerAsync(RawPeer peer, uint callId, CancellationToken cancellationToken, int atLeast)
    {
        var items = 0;
        var asked = false;
        while (true)
        {
            if (!asked && items >= atLeast)
            {
                await peer.SendAsync(RawPeer.Request(callId, ConformanceRoutes.Add, Map(("A", 1), ("B", 2))));
                asked = true;
            }

            var frame = await peer.ReadFrameAsync(cancellationToken) ?? throw new InvalidOperationException("the server closed the connection");
            if (frame.Type == FrameType.StreamItem)
            {
                items++;
            }
            else if (frame.Type == FrameType.Response && frame.CallId == callId)
            {
                return items;
            }
        }
    }

    private static byte[] Credit(uint callId, uint credit)
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        WireFormat.WriteCredit(writer, callId, credit);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>A MessagePack map of one member, as the default serializer writes a message type with that member.</summary>
    private static byte[] Map(string name, object value) => Map((name, value));

    private static byte[] Map(params (string Name, object Value)[] members)
    {
        var bytes = new List<byte> { (byte)(0x80 | members.Length) };
        foreach (var (name, value) in members)
        {
            bytes.Add((byte)(0xA0 | name.Length));
            bytes.AddRange(Encoding.ASCII.GetBytes(name));
            switch (value)
            {
                case int number and >= 0 and < 128:
                    bytes.Add((byte)number);
                    break;
                case int number:
                    bytes.Add(0xCD);
                    bytes.Add((byte)(number >> 8));
                    bytes.Add((byte)number);
                    break;
                case string text:
                    bytes.Add(0xC4); // bin 8
                    bytes.Add((byte)text.Length);
                    bytes.AddRange(Encoding.ASCII.GetBytes(text));
                    break;
            }
        }

        return [.. bytes];
    }
}

public sealed class PipePairFlowControlTests : FlowControlTests<PipePairMedium>;

public sealed class UnixSocketFlowControlTests : FlowControlTests<UnixSocketMedium>;

public sealed class TcpFlowControlTests : FlowControlTests<TcpMedium>;

public sealed class NamedPipeFlowControlTests : FlowControlTests<NamedPipeMedium>;
