using System.Buffers;
using System.IO.Pipelines;
using Ipc.Testing;
using Ipc.TestUtils;
using Ipc.Transports.Streams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Streams.Tests;

/// <summary>
/// One client connection against a server written by hand: what a call meets when the connection ends under it.
/// </summary>
public sealed class ClientConnectionTests : IAsyncDisposable
{
    private readonly RawPeer _server;
    private readonly ClientConnection _connection;

    public ClientConnectionTests()
        : this(new StreamTransportOptions())
    {
    }

    private ClientConnectionTests(StreamTransportOptions transportOptions, ILogger? logger = null, TimeProvider? time = null)
    {
        var options = new PipeOptions(useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        _server = new RawPeer(DuplexConnection.Create(new DuplexPipe(toServer.Reader, toClient.Writer)));
        _connection = new ClientConnection(
            DuplexConnection.Create(new DuplexPipe(toClient.Reader, toServer.Writer)),
            "test",
            1024 * 1024,
            transportOptions,
            time ?? TimeProvider.System,
            logger ?? NullLogger.Instance,
            "test client connection");
        _ = _connection.RunAsync();
    }

    [Fact]
    public async Task Request_OnAConnectionTheServerLetGoAfterThePoolHandedItOut_IsNotAcceptedSoItCanGoElsewhere()
    {
        await HandshakeAsync();

        // The server lets the idle connection go (it saw no call); the pool had already picked it for the next call.
        await _server.SendAsync(Frame(writer => WireFormat.WriteGoAway(writer, IpcErrorCode.Unavailable, "idle", lastCallId: 0)));
        await WhenClosedAsync();
        var error = await Assert.ThrowsAnyAsync<IpcException>(() =>
            _connection.RequestAsync(new IpcMessage("add", new byte[] { 0x92, 1, 2 }), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(error.NotAccepted, "a call that was never written must be free to go on another connection");
        Assert.Equal(IpcErrorCode.Unavailable, error.ErrorCode);
    }

    [Fact]
    public async Task Stream_OnAConnectionTheServerLetGo_IsNotAcceptedSoItCanGoElsewhere()
    {
        await HandshakeAsync();

        await _server.SendAsync(Frame(writer => WireFormat.WriteGoAway(writer, IpcErrorCode.Unavailable, "idle", lastCallId: 0)));
        await WhenClosedAsync();
        var error = await Assert.ThrowsAnyAsync<IpcException>(async () =>
        {
            await foreach (var _ in _connection.StreamAsync(new IpcMessage("range", new byte[] { 0 }), CancellationToken.None))
            {
            }
        }).WaitAsync(TestIpc.Bound);

        Assert.True(error.NotAccepted);
    }

    [Theory]
    [InlineData("request-1", true)] // a response carries its request's id
    [InlineData("another", false)] // a server that answers with another id is read as it is
    public async Task Request_Response_CarriesTheMessageIdItSent(string responseId, bool sameAsRequest)
    {
        await HandshakeAsync();
        await _server.ReadPrefaceAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        var request = new IpcMessage("add", new byte[] { 0x92, 1, 2 }) { MessageId = new string("request-1".AsSpan()) };

        var call = _connection.RequestAsync(request, CancellationToken.None).AsTask();
        var frame = await _server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        await _server.SendAsync(Frame(writer => WireFormat.WriteMessage(writer, FrameType.Response, frame!.Value.CallId, new IpcMessage("add", new byte[] { 3 }) { MessageId = responseId })));
        var response = await call.WaitAsync(TestIpc.Bound);

        Assert.Equal(FrameType.Request, frame!.Value.Type);
        Assert.Equal(responseId, response.MessageId);
        Assert.Equal(sameAsRequest, ReferenceEquals(request.MessageId, response.MessageId));
    }

    [Fact]
    public async Task Request_AfterAnAnsweredCall_IsNotCancelledByThatCallsToken()
    {
        await HandshakeAsync();
        await _server.ReadPrefaceAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        using var firstCaller = new CancellationTokenSource();

        // The first call is answered; the connection then reuses what it kept of it for the second.
        var first = _connection.RequestAsync(new IpcMessage("add", new byte[] { 1 }), firstCaller.Token).AsTask();
        var firstFrame = await _server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        await _server.SendAsync(Frame(writer => WireFormat.WriteMessage(writer, FrameType.Response, firstFrame!.Value.CallId, new IpcMessage("add", new byte[] { 11 }))));
        Assert.Equal(new byte[] { 11 }, (await first.WaitAsync(TestIpc.Bound)).Body.ToArray());

        var second = _connection.RequestAsync(new IpcMessage("add", new byte[] { 2 }), CancellationToken.None).AsTask();
        var secondFrame = await _server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        await firstCaller.CancelAsync(); // the first caller cancels late: its call is over
        await _server.SendAsync(Frame(writer => WireFormat.WriteMessage(writer, FrameType.Response, secondFrame!.Value.CallId, new IpcMessage("add", new byte[] { 22 }))));

        Assert.NotEqual(firstFrame!.Value.CallId, secondFrame!.Value.CallId);
        Assert.Equal(new byte[] { 22 }, (await second.WaitAsync(TestIpc.Bound)).Body.ToArray());
    }

    /// <summary>
    /// A cancelled call frees its slot for the next call only once its Cancel is written ahead of that call, so the server,
    /// which counts the call out when the Cancel arrives, never sees one call too many: with a limit of one call in flight
    /// a caller that cancels and calls again at once (here inside the cancellation, with inline completions) must not be
    /// refused with ResourceExhausted.
    /// </summary>
    [Fact]
    public async Task Request_CancelledThenAnotherCallAtOnce_TheCancelReachesTheServerBeforeTheNextRequest()
    {
        await using var test = new ClientConnectionTests(new StreamTransportOptions { UnsafePreferInlineCompletions = true, DedicatedReaders = false });
        await test.HandshakeAsync(maxConcurrentCalls: 1);
        await test._server.ReadPrefaceAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        using var firstCaller = new CancellationTokenSource();

        async Task CallerAsync()
        {
            try
            {
                await test._connection.RequestAsync(new IpcMessage("block", new byte[] { 1 }), firstCaller.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            // Continues inside the cancellation: the next call takes the slot the cancelled one freed.
            _ = test._connection.RequestAsync(new IpcMessage("add", new byte[] { 2 }), CancellationToken.None).AsTask();
        }

        var caller = CallerAsync();
        var first = await test._server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        await firstCaller.CancelAsync();
        await caller.WaitAsync(TestIpc.Bound);
        var next = await test._server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        var after = await test._server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);

        Assert.Equal((FrameType.Request, 1u), (first!.Value.Type, first.Value.CallId));
        Assert.Equal((FrameType.Cancel, 1u), (next!.Value.Type, next.Value.CallId));
        Assert.Equal((FrameType.Request, 2u), (after!.Value.Type, after.Value.CallId));
    }

    /// <summary>
    /// A server that sends a stream more items than the client granted (256 beyond its StreamCredit frames) breaks the
    /// wire format: the items would wait in the client's memory without bound while the caller does not read them. The
    /// client closes the connection; the caller reads the 256 items it allowed, then gets ProtocolError.
    /// </summary>
    [Fact]
    public async Task Stream_ServerSendsMoreItemsThanGranted_FailsWithProtocolErrorAndCloses()
    {
        await HandshakeAsync();
        await _server.ReadPrefaceAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);
        var stream = _connection.StreamAsync(new IpcMessage("range", new byte[] { 0 }), CancellationToken.None).GetAsyncEnumerator();
        var first = stream.MoveNextAsync().AsTask();
        var request = await _server.ReadFrameAsync(CancellationToken.None).WaitAsync(TestIpc.Bound);

        await _server.SendAsync(Frame(writer =>
        {
            for (var i = 0; i <= WireFormat.InitialStreamCredit; i++)
            {
                WireFormat.WriteMessage(writer, FrameType.StreamItem, request!.Value.CallId, new IpcMessage("range", new byte[] { (byte)i }));
            }
        }));
        await WhenClosedAsync();

        Assert.True(await first.WaitAsync(TestIpc.Bound));
        var read = 1;
        var error = await Assert.ThrowsAsync<IpcException>(async () =>
        {
            while (await stream.MoveNextAsync().AsTask().WaitAsync(TestIpc.Bound))
            {
                read++;
            }
        });
        Assert.Equal(IpcErrorCode.ProtocolError, error.ErrorCode);
        Assert.Contains("more items than the client granted", error.Message, StringComparison.Ordinal);
        Assert.Equal(WireFormat.InitialStreamCredit, read);
        await stream.DisposeAsync();
    }

    /// <summary>
    /// One-way messages the client accepted but had not written yet when the connection closed (the server read nothing
    /// more, and let the connection go after its GoAway): each is logged as not delivered, as the server logs the ones it
    /// received and could not handle. The one written before them, which the server may have read, is not.
    /// </summary>
    [Fact]
    public async Task OneWay_NotWrittenWhenTheConnectionCloses_IsLoggedAsNotDelivered()
    {
        var log = new RecordingLog();
        var time = new TimerFakeTimeProvider();
        await using var test = new ClientConnectionTests(new StreamTransportOptions(), log.CreateLogger("test"), time);
        await test.HandshakeAsync();

        // The server reads nothing: the first message fills the pipe to it (which takes 64 KiB), and its write waits there.
        await test._connection.SendAsync(new IpcMessage("one-way", new byte[128 * 1024]) { MessageId = "written" }, CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound);
        await WaitUntilAsync(() => test._connection.PendingOutputBytes == 0); // taken by the write that waits
        await test._connection.SendAsync(new IpcMessage("one-way", new byte[] { 1 }) { MessageId = "buffered-1" }, CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound);
        await test._connection.SendAsync(new IpcMessage("one-way", new byte[] { 2 }) { MessageId = "buffered-2" }, CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound);

        // The server goes away; the client waits a second for its buffer to be written, then closes.
        await test._server.SendAsync(Frame(writer => WireFormat.WriteGoAway(writer, IpcErrorCode.Unavailable, "stopping", lastCallId: 0)));
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(1), TestIpc.Bound);
        time.Advance(TimeSpan.FromSeconds(1));
        await test.WhenClosedAsync();

        var notDelivered = log.Entries.Where(e => e.Level == LogLevel.Error && e.Message.Contains("not delivered", StringComparison.Ordinal)).Select(e => e.Message).ToList();
        Assert.Equal(2, notDelivered.Count);
        Assert.Contains("buffered-1", notDelivered[0], StringComparison.Ordinal);
        Assert.Contains("buffered-2", notDelivered[1], StringComparison.Ordinal);
        Assert.Contains("route 'one-way'", notDelivered[0], StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        _connection.Close();
        await _server.DisposeAsync();
    }

    private static byte[] Frame(Action<ArrayBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    private async Task HandshakeAsync(int maxConcurrentCalls = 10)
    {
        var handshake = _connection.HandshakeAsync(CancellationToken.None);
        await _server.SendAsync(Frame(writer =>
        {
            writer.Write(WireFormat.Preface);
            WireFormat.WriteSettings(writer, maxConcurrentCalls, oneWayWindow: 10);
        }));
        await handshake.WaitAsync(TestIpc.Bound);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        while (!condition())
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), bound.Token);
        }
    }

    private async Task WhenClosedAsync()
    {
        var closed = new TaskCompletionSource();
        using var registration = _connection.Closed.Register(() => closed.TrySetResult());
        await closed.Task.WaitAsync(TestIpc.Bound);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
