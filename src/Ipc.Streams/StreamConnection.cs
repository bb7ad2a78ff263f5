using System.Buffers;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;

namespace Ipc.Transports.Streams;

/// <summary>
/// One framed connection over a byte stream, either side. Reads frames in one loop and hands each to
/// <see cref="OnFrameAsync"/>; writes frames from any thread, coalescing frames written close together into one write.
/// </summary>
/// <remarks>
/// Limits are checked on the fixed header, before anything is buffered for a frame: metadata over
/// <see cref="StreamTransportOptions.MaxHeaderSize"/> closes the connection; a message body over the endpoint's
/// <c>MaxMessageSize</c> is discarded as it streams past and reported to <see cref="OnOversizeAsync"/>, so the
/// connection stays usable.
/// </remarks>
internal abstract class StreamConnection : IReaderWorkScope
{
    /// <summary>How many batches a writer that flushes on its own thread writes before it hands the rest to the thread pool.</summary>
    private const int InlineBatches = 4;

    /// <summary>
    /// How many frames, and how many bytes, the work of one read may hold back (see <see cref="Begin"/>). The frame past
    /// the count goes out at once with the ones before it, so a peer starts on the first frames of a long run while this
    /// side writes the rest: fewer writes and reads, and both sides still busy at once.
    /// </summary>
    private const int HeldFramesLimit = 8;

    /// <inheritdoc cref="HeldFramesLimit"/>
    private const int HeldWriteLimit = 64 * 1024;

    // The connection whose reader work this thread runs, and that connection's hold epoch when it began (see Begin).
    [ThreadStatic]
    private static StreamConnection? t_holdingFor;
    [ThreadStatic]
    private static int t_holdEpoch;

    private readonly DuplexConnection _connection;
    private readonly CancellationTokenSource _closed = new();
    private readonly int _maxBody;
    private readonly int _maxMetadata;
    private readonly int _maxOutput;
    private readonly TimeSpan _frameTimeout;
    private readonly TimeProvider _time;
    private ITimer? _frameTimer;
    private bool _frameTimerArmed;

    // The count of the medium's bytes the frame loop has consumed, and a large body the medium read straight into a
    // buffer of the loop's (ReadBodyIntoAsync, rented when PoolsLargeBodies), which ReadMessage takes.
    private long _inputPosition;
    private byte[]? _bodyRead;

    // Whether the frame loop has read the peer's preface: a field, as a frame loop that takes over from another goes on after it.
    private bool _prefaceSeen;

    // The routes the frame loop read last, which give the messages of a route the same string.
    private readonly RouteNames _routeNames = new();

    // The write side. Writers append whole frames to _pending under _gate and never wait for the stream; one flusher at a
    // time swaps the buffers and writes outside the lock, so frames written while it writes go out together next.
    private readonly object _gate = new();
    private FrameBuffer _pending = new();
    private FrameBuffer? _spare = new();
    private bool _flushing;
    private bool _flushScheduled;
    private bool _held;
    private int _heldFrames;
    private int _holdEpoch;
    private TaskCompletionSource? _space;
    private TaskCompletionSource? _drained;
    private int _closing;
    private Exception? _closeReason;

    // The end of reading (EndReadingAsync): 1 once the frame loop takes only what arrived, and how many more bytes it takes.
    private int _endingReads;
    private long _endingMaxBytes;
    private long _endingFrom = -1; // the frame loop's input position when it first saw the end of reading

    private readonly ReaderHost _readerHost;

    protected StreamConnection(DuplexConnection connection, int maxBody, StreamTransportOptions options, bool dedicatedReader, TimeSpan frameTimeout, TimeProvider time, ILogger logger, string description)
    {
        var maxMetadata = options.MaxHeaderSize;
        _connection = connection;
        _maxBody = maxBody;
        _maxMetadata = maxMetadata;
        _maxOutput = options.MaxOutputBufferSize;
        _frameTimeout = frameTimeout;
        _time = time;
        Logger = logger;
        Description = description;
        _readerHost = new ReaderHost(logger, description, (long)maxBody + maxMetadata + WireFormat.HeaderSize, time) { WorkScope = this };
        connection.Attach(_readerHost, dedicatedReader);
    }

    /// <summary>Gets or sets where the connection reports what only it sees (reader replacements, dropped messages), if anywhere.</summary>
    public Ipc.Diagnostics.IpcTransportTelemetry? Telemetry
    {
        get => _readerHost.Telemetry;
        set => _readerHost.Telemetry = value;
    }

    /// <summary>Gets why the connection closed, when it was not an orderly close.</summary>
    public Exception? CloseReason => Volatile.Read(ref _closeReason);

    /// <summary>Gets what the connection is, for log messages (endpoint, address, side).</summary>
    public string Description { get; }

    /// <summary>Gets a value indicating whether the connection reads on a dedicated thread, which can run work itself (<see cref="DeferToReader"/>).</summary>
    public bool HasDedicatedReader => _connection.HasDedicatedReader;

    /// <summary>Gets a token cancelled once the connection is closing.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Gets a value indicating whether the connection was closed.</summary>
    public bool IsClosed => Volatile.Read(ref _closing) != 0;

    protected ILogger Logger { get; }

    /// <summary>Gets the clock of the connection's timers.</summary>
    protected TimeProvider Time => _time;

    /// <summary>Writes the preface and flushes it.</summary>
    public ValueTask SendPrefaceAsync() => SendAsync(static (writer, _) => writer.Write(WireFormat.Preface), 0, urgent: true);

    /// <summary>
    /// Writes one frame. An <paramref name="urgent"/> frame is written to the stream at once, by this caller or by the
    /// flush already running; other frames are written by a flush on the thread pool, together with whatever else was
    /// buffered by then. While <see cref="StreamTransportOptions.MaxOutputBufferSize"/> waits to be written, writers wait for
    /// space instead of buffering more. The exception: an urgent frame that the work of the dedicated reader writes (a
    /// handler's response, a caller's next request) while more work of the same read waits to run is held, and goes out
    /// with the next frame that is not, or when that work is done (see <see cref="Begin"/>).
    /// </summary>
    /// <remarks>
    /// Only the flusher writes to the stream, one at a time, so at most one thread per connection can block on a peer
    /// that reads nothing (with blocking writes); closing the connection ends that.
    /// </remarks>
    public ValueTask SendAsync<TState>(Action<IBufferWriter<byte>, TState> write, TState state, bool urgent) => SendAsync(write, state, urgent, tail: default);

    /// <summary>
    /// Writes a frame that carries <paramref name="message"/>. A large body of an <paramref name="urgent"/> frame whose
    /// caller writes to the stream itself goes to the stream straight from the message, right after the frame's first
    /// bytes, rather than through the buffer; the call then returns once the stream took it. Otherwise the body is copied
    /// into the buffer with the rest of the frame, as <see cref="SendAsync{TState}(Action{IBufferWriter{byte}, TState}, TState, bool)"/> does.
    /// </summary>
    protected ValueTask SendMessageAsync(FrameType type, uint callId, IpcMessage message, bool urgent) =>
        urgent && message.Fault is null && message.Body.Length >= LargeBodyMinimum
            ? SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, state.Type, state.CallId, state.Message, withBody: false), (Type: type, CallId: callId, Message: message), urgent, message.Body)
            : SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, state.Type, state.CallId, state.Message), (Type: type, CallId: callId, Message: message), urgent);

    /// <param name="write">Writes the frame, or its first bytes when <paramref name="tail"/> has the rest.</param>
    /// <param name="state">What <paramref name="write"/> writes.</param>
    /// <param name="urgent">Whether the frame goes out at once.</param>
    /// <param name="tail">The rest of the frame: written straight from this memory when this caller becomes the flusher, else copied into the buffer.</param>
    private ValueTask SendAsync<TState>(Action<IBufferWriter<byte>, TState> write, TState state, bool urgent, ReadOnlyMemory<byte> tail)
    {
        var schedule = false;
        var flush = false;
        FrameBuffer? tailBatch = null;
        TaskCompletionSource? space = null;
        lock (_gate)
        {
            if (IsClosed)
            {
                return ValueTask.FromException(NotSent());
            }

            if (_pending.WrittenCount >= _maxOutput)
            {
                return SendWhenSpaceAsync(write, state, urgent, tail);
            }

            _pending.Append(write, state);
            if (_flushing)
            {
                AppendTail(tail);
                return default; // the running flush writes it next
            }

            if (urgent)
            {
                if (tail.IsEmpty && t_holdingFor == this && t_holdEpoch == _holdEpoch && _heldFrames < HeldFramesLimit && _pending.WrittenCount < Math.Min(HeldWriteLimit, _maxOutput))
                {
                    _heldFrames++;
                    _held = true;
                    return default; // goes out with the next frame that is not held, or at the end of the read's work (End)
                }

                _flushing = flush = true;
                _heldFrames = 0;
                if (!tail.IsEmpty)
                {
                    // The frame's first bytes end the batch this caller writes, its tail follows from where it is: the
                    // frames others write from now on go in the next batch, after the tail.
                    tailBatch = _pending;
                    _pending = _spare!;
                    _spare = null;
                    space = _space;
                    _space = null;
                }
            }
            else
            {
                AppendTail(tail);
                if (!_flushScheduled)
                {
                    // A one-way sender never writes to the stream itself, so it never waits for the peer to read.
                    _flushScheduled = schedule = true;
                }
            }
        }

        if (schedule)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static connection => connection.RunScheduledFlush(), this, preferLocal: false);
            return default;
        }

        if (tailBatch is not null)
        {
            space?.TrySetResult(); // there is room again in the new buffer
            return FlushWithTailAsync(tailBatch, tail);
        }

        return flush ? FlushAsync(InlineBatches) : default;
    }

    /// <summary>Under <see cref="_gate"/>: copies the rest of the frame just appended into the buffer.</summary>
    private void AppendTail(ReadOnlyMemory<byte> tail)
    {
        if (!tail.IsEmpty)
        {
            _pending.Write(tail.Span);
        }
    }

    /// <summary>
    /// The flusher (the caller set <see cref="_flushing"/>) with a batch it took whose last frame ends in <paramref name="tail"/>:
    /// writes the batch, then the tail from where it is, then goes on as <see cref="FlushAsync"/> with what came meanwhile.
    /// </summary>
    private async ValueTask FlushWithTailAsync(FrameBuffer batch, ReadOnlyMemory<byte> tail)
    {
        try
        {
            await _connection.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
            await _connection.WriteAsync(tail).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            throw FlushFailed(ex);
        }

        lock (_gate)
        {
            batch.Reset();
            _spare = batch;
        }

        await FlushAsync(InlineBatches).ConfigureAwait(false);
    }

    private async ValueTask SendWhenSpaceAsync<TState>(Action<IBufferWriter<byte>, TState> write, TState state, bool urgent, ReadOnlyMemory<byte> tail)
    {
        while (true)
        {
            Task space;
            lock (_gate)
            {
                if (IsClosed)
                {
                    throw NotSent();
                }

                if (_pending.WrittenCount < _maxOutput)
                {
                    break;
                }

                space = WaitForSpaceLocked();
            }

            await space.ConfigureAwait(false); // the flusher took the buffer, or the connection closed
        }

        await SendAsync(write, state, urgent, tail).ConfigureAwait(false);
    }

    /// <summary>Waits while the unsent output is past <see cref="StreamTransportOptions.MaxOutputBufferSize"/> (or the connection closes).</summary>
    private async ValueTask WaitForOutputSpaceAsync()
    {
        while (true)
        {
            Task space;
            lock (_gate)
            {
                if (IsClosed || _pending.WrittenCount < _maxOutput || IsEndingReads)
                {
                    return;
                }

                space = WaitForSpaceLocked();
            }

            await space.ConfigureAwait(false);
        }
    }

    /// <summary>Under <see cref="_gate"/>: the task the flusher completes once it took the full buffer; makes sure a flush will.</summary>
    private Task WaitForSpaceLocked()
    {
        var space = (_space ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        if (!_flushing && !_flushScheduled)
        {
            _flushScheduled = true; // someone must take the full buffer
            ThreadPool.UnsafeQueueUserWorkItem(static connection => connection.RunScheduledFlush(), this, preferLocal: false);
        }

        return space;
    }

    /// <summary>Completes once every frame buffered so far has been written (or the connection closed).</summary>
    protected Task WhenDrainedAsync()
    {
        lock (_gate)
        {
            if (IsClosed || (!_flushing && !_flushScheduled && _pending.WrittenCount == 0))
            {
                return Task.CompletedTask;
            }

            return (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Gets a value indicating whether large message bodies are read into buffers of <see cref="ArrayPool{T}.Shared"/> (servers; see <see cref="ReadMessage(FrameHeader, ReadOnlySequence{byte}, ReadOnlySequence{byte}, bool, out byte[], string)"/>).</summary>
    protected virtual bool PoolsLargeBodies => false;

    /// <summary>Gets a value indicating whether the read loop waits, before each read, while the unsent output is full (servers).</summary>
    protected virtual bool PauseReadingWhileOutputFull => false;

    /// <summary>Completes once the frame loop may take on the next frame: a server holds back while what it was sent waits for its handlers.</summary>
    protected virtual ValueTask WaitToTakeFrameAsync() => default;

    /// <summary>
    /// Once the connection closed: takes the frames that were buffered and never handed to the medium (the connection
    /// closed first, so the peer got none of them), or <see langword="null"/> when there are none.
    /// </summary>
    protected byte[]? TakeUnwrittenFrames()
    {
        lock (_gate)
        {
            if (!IsClosed || _pending.WrittenCount == 0)
            {
                return null;
            }

            var frames = _pending.WrittenSpan.ToArray();
            _pending.Reset();
            return frames;
        }
    }

    /// <summary>Gets a value indicating whether the frame loop is ending: it reads on for a bounded time and holds nothing back (<see cref="EndReadingAsync"/>).</summary>
    protected bool IsEndingReads => Volatile.Read(ref _endingReads) != 0;

    /// <summary>
    /// Ends the frame loop after <paramref name="maxTime"/> of real time more, or <paramref name="maxBytes"/> more of
    /// input, whichever comes first (a peer may send without end): the frames it holds and those that arrive meanwhile
    /// (the peer sent them before it knew this side stops reading) are handled, then the connection closes. The loop
    /// stops waiting for output space and for <see cref="WaitToTakeFrameAsync"/> meanwhile.
    /// </summary>
    protected async Task EndReadingAsync(long maxBytes, TimeSpan maxTime)
    {
        BeginEndingReads(maxBytes);

        // Bytes the peer wrote may still be on their way through the medium (a reader thread moves them into the input):
        // the loop reads on for the whole time rather than stopping at the first read that would wait.
        try
        {
            await Task.Delay(maxTime, TimeProvider.System, Closed).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        Close(); // the loop took what arrived in the time (the peer closing its side ends it sooner)
    }

    /// <summary>
    /// The start of <see cref="EndReadingAsync"/>, on its own: from here the frame loop takes at most
    /// <paramref name="maxBytes"/> more of input, and no longer holds back for output space or <see cref="WaitToTakeFrameAsync"/>.
    /// </summary>
    protected void BeginEndingReads(long maxBytes)
    {
        Volatile.Write(ref _endingMaxBytes, maxBytes);
        Interlocked.Exchange(ref _endingReads, 1);
        TaskCompletionSource? space;
        lock (_gate)
        {
            space = _space;
            _space = null;
        }

        space?.TrySetResult(); // a loop that waits for output space reads on (writers waiting look again, and wait on)
        OnEndingReads();
    }

    /// <summary>Called once <see cref="EndReadingAsync"/> began: a loop held back in <see cref="WaitToTakeFrameAsync"/> must go on.</summary>
    protected virtual void OnEndingReads()
    {
    }

    /// <summary>Gets how many bytes of frames wait to be written (for tests and diagnostics).</summary>
    internal int PendingOutputBytes => Volatile.Read(ref _pending).WrittenCount;

    /// <summary>Runs the read loop until the peer closes, the format is broken or <see cref="Close"/> is called.</summary>
    public async Task RunAsync()
    {
        Exception? reason = null;
        try
        {
            await _connection.RunAsync(ReadLoopAsync).ConfigureAwait(false);
        }
        catch (WireFormatException ex)
        {
            reason = ex;
            Log.ProtocolError(Logger, Description, ex.Message);
            await OnProtocolErrorAsync(ex).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException
            or System.Security.Authentication.AuthenticationException)
        {
            reason = ex;
        }
        catch (Exception ex)
        {
            reason = ex;
            Log.Failed(Logger, Description, ex);
        }
        finally
        {
            Close(reason);
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connection (once): pending reads and writes fail, <see cref="OnClosed"/> runs.</summary>
    public void Close(Exception? reason = null)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        _closeReason = reason;
        TaskCompletionSource? space;
        TaskCompletionSource? drained;
        lock (_gate)
        {
            space = _space;
            _space = null;
            drained = _drained;
            _drained = null;
        }

        space?.TrySetResult(); // writers waiting for buffer space see the connection closed
        drained?.TrySetResult();
        _frameTimer?.Dispose();
        try
        {
            _closed.Cancel();
        }
        catch (AggregateException)
        {
            // A callback registered on Closed failed; the connection closes regardless.
        }

        _connection.Abort(); // ends a pending read, fails a write blocked on a peer that reads nothing
        OnClosed(reason);
    }

    /// <summary>
    /// Leaves <paramref name="work"/> to the dedicated reader when the frame loop runs on it: the reader runs it as soon
    /// as the loop has handled the bytes of this read, with no thread hand-off. Returns <see langword="false"/> when the
    /// caller must hand the work to the thread pool instead (no dedicated reader, the loop runs elsewhere, or work held
    /// this connection's readers too often already).
    /// </summary>
    /// <remarks>
    /// Work that holds the reader for more than <see cref="ReaderWatchdog.Threshold"/> (a handler that computes or blocks,
    /// a caller that waits on another call of this connection) does not stall the connection: a new thread takes over
    /// reading. A first call's compilation can do that once; a connection whose reader was replaced 16 times within a
    /// minute hands its work to the thread pool until that minute ends, then runs it on its reader again.
    /// </remarks>
    protected bool DeferToReader(IReaderWork work) => _connection.TryDefer(work);

    /// <summary>Logs a failure of work that ran outside the frame loop and closes the connection.</summary>
    protected void Fail(Exception error)
    {
        Log.Failed(Logger, Description, error);
        Close(error);
    }

    /// <summary>Called once when the connection closes, with the reason when it was not an orderly close.</summary>
    protected abstract void OnClosed(Exception? reason);

    /// <summary>Handles one complete frame. <paramref name="metadata"/> and <paramref name="body"/> are valid only until it returns.</summary>
    protected abstract ValueTask OnFrameAsync(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body);

    /// <summary>Handles a message frame whose body is over the limit; the body is discarded after it returns.</summary>
    protected abstract ValueTask OnOversizeAsync(FrameHeader header, IpcMessage message, int maxBody);

    /// <summary>Called after a format violation was logged, before the connection closes.</summary>
    protected virtual ValueTask OnProtocolErrorAsync(WireFormatException error) => default;

    /// <summary>Called when the peer's preface has been read and checked.</summary>
    protected virtual void OnPrefaceReceived()
    {
    }

    /// <summary>The error pending and new calls get once the connection is gone.</summary>
    protected virtual IpcException ConnectionLost() =>
        new(IpcErrorCode.Unavailable, $"The connection ({Description}) was lost{(_closeReason is null ? string.Empty : ": " + _closeReason.Message)}.", _closeReason);

    /// <summary>The error of a frame refused because the connection is gone: nothing of it was written, so its message was not accepted.</summary>
    private IpcException NotSent()
    {
        var lost = ConnectionLost();
        return new IpcException(lost.ErrorCode, lost.Message, lost.InnerException) { Endpoint = lost.Endpoint, NotAccepted = true };
    }

    /// <summary>
    /// Bodies from this size up are large, and copied once on each side where the medium allows:
    /// <list type="bullet">
    /// <item>A server reads them into a buffer of <see cref="ArrayPool{T}.Shared"/>, which it returns when the handler is
    /// done with the message, rather than into a new array: arrays this large live on the large object heap, and
    /// allocating one per message makes the collector run full collections and give memory back to the system, which the
    /// next message then faults in again.</item>
    /// <item>A dedicated reader reads the rest of one that has not all arrived straight into that buffer (or a client's
    /// new array), not through the pipe (<see cref="ReadBodyIntoAsync"/>).</item>
    /// <item>A caller that flushes writes one to the stream straight from its message (<see cref="SendMessageAsync"/>).</item>
    /// </list>
    /// </summary>
    internal const int LargeBodyMinimum = 64 * 1024;

    /// <summary>Reads a message frame that answers a call: a message id equal to <paramref name="requestMessageId"/> gets that string, not a new one.</summary>
    protected IpcMessage ReadMessage(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body, string? requestMessageId) =>
        ReadMessage(header, metadata, body, pool: false, out _, requestMessageId);

    /// <summary>
    /// Reads a message frame, from the frame loop. With <paramref name="pool"/>, a body of <see cref="LargeBodyMinimum"/>
    /// bytes or more is read into <paramref name="pooled"/>, a rented buffer the caller returns once nothing reads the
    /// message any more. A body the medium read straight into a buffer (<see cref="PoolsLargeBodies"/> says which kind) is
    /// taken as it is.
    /// </summary>
    protected IpcMessage ReadMessage(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body, bool pool, out byte[]? pooled, string? expectedMessageId = null)
    {
        pooled = null;
        var message = WithSpan(metadata, (header.Flags, Routes: _routeNames, Id: expectedMessageId), static (span, state) => WireFormat.ReadMetadata(span, state.Flags, state.Routes, state.Id));
        if ((header.Flags & FrameFlags.Fault) != 0)
        {
            message.Fault = WithSpan(body, 0, static (span, _) => WireFormat.DecodeKnownFault(span));
        }
        else if (body.IsEmpty)
        {
            message.Body = ReadOnlyMemory<byte>.Empty;
        }
        else if (_bodyRead is { } read)
        {
            Debug.Assert(pool == PoolsLargeBodies && body.Length == header.BodyLength, "a body read into a buffer belongs to the frame being read");
            _bodyRead = null;
            pooled = pool ? read : null;
            message.Body = read.AsMemory(0, header.BodyLength);
        }
        else
        {
            var length = checked((int)body.Length);
            var array = pool && length >= LargeBodyMinimum
                ? pooled = ArrayPool<byte>.Shared.Rent(length)
                : GC.AllocateUninitializedArray<byte>(length); // every byte is written next: no need to clear it first
            body.CopyTo(array);
            message.Body = array.AsMemory(0, length);
        }

        return message;
    }

    protected static TResult WithSpan<TState, TResult>(ReadOnlySequence<byte> sequence, TState state, ReadOnlySpanFunc<TState, TResult> read)
    {
        if (sequence.IsSingleSegment)
        {
            return read(sequence.FirstSpan, state);
        }

        var length = checked((int)sequence.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            sequence.CopyTo(rented);
            return read(rented.AsSpan(0, length), state);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Bounds the time a started frame may take (<see cref="StreamTransportOptions.FrameTimeout"/>): armed when a read
    /// leaves part of a frame buffered, re-armed when frames completed and another one started, disarmed when none is left.
    /// </summary>
    private void WatchFrame(bool partial, bool framed)
    {
        if (_frameTimeout == Timeout.InfiniteTimeSpan || IsClosed || (partial == _frameTimerArmed && !(partial && framed)))
        {
            return;
        }

        _frameTimerArmed = partial;
        _frameTimer ??= _time.CreateTimer(
            static state =>
            {
                var connection = (StreamConnection)state!;
                Log.FrameTimeout(connection.Logger, connection.Description, connection._frameTimeout);
                connection.Close(new TimeoutException($"The peer did not finish a frame within the FrameTimeout of {connection._frameTimeout}."));
            },
            this,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
        _frameTimer.Change(partial ? _frameTimeout : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <remarks>
    /// With a dedicated reader the loop may hand its place to a new one (<see cref="DuplexConnection.RunWorkInPlace"/>)
    /// between two reads, with no part of a frame held: the new loop starts from the same place of the input, and this one
    /// waits for it to end.
    /// </remarks>
    private async Task ReadLoopAsync()
    {
        long skip = 0;
        while (true)
        {
            if (PauseReadingWhileOutputFull && _pending.WrittenCount >= _maxOutput && !IsEndingReads)
            {
                await WaitForOutputSpaceAsync().ConfigureAwait(false); // the peer reads nothing: read nothing either
            }

            if (IsEndingReads)
            {
                if (_endingFrom < 0)
                {
                    _endingFrom = _inputPosition;
                }
                else if (_inputPosition - _endingFrom >= Volatile.Read(ref _endingMaxBytes))
                {
                    return; // took as much as an end of reading takes
                }
            }

            var result = await _connection.Input.ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled || IsClosed)
            {
                return;
            }

            var buffer = result.Buffer;
            var framed = false;
            try
            {
                while (true)
                {
                    if (skip > 0)
                    {
                        var discard = Math.Min(skip, buffer.Length);
                        buffer = buffer.Slice(discard);
                        skip -= discard;
                        if (skip > 0)
                        {
                            break;
                        }
                    }

                    if (!_prefaceSeen)
                    {
                        if (buffer.Length < WireFormat.PrefaceSize)
                        {
                            break;
                        }

                        WithSpan(buffer.Slice(0, WireFormat.PrefaceSize), 0, static (span, _) =>
                        {
                            WireFormat.ValidatePreface(span);
                            return 0;
                        });
                        buffer = buffer.Slice(WireFormat.PrefaceSize);
                        _prefaceSeen = true;
                        OnPrefaceReceived();
                        continue;
                    }

                    if (buffer.Length < WireFormat.HeaderSize)
                    {
                        break;
                    }

                    var header = WithSpan(buffer.Slice(0, WireFormat.HeaderSize), 0, static (span, _) => WireFormat.ReadHeader(span));
                    CheckLimits(header);
                    var room = WaitToTakeFrameAsync();
                    if (!room.IsCompletedSuccessfully)
                    {
                        WatchFrame(partial: false, framed: false); // this side holds back now, not the peer: no frame timeout
                        await room.ConfigureAwait(false);
                        if (IsClosed)
                        {
                            return; // closed while it held back
                        }
                    }

                    if (header.CarriesMessage && header.BodyLength > _maxBody)
                    {
                        var prefix = WireFormat.HeaderSize + header.MetadataLength;
                        if (buffer.Length < prefix)
                        {
                            break;
                        }

                        var message = WithSpan(buffer.Slice(WireFormat.HeaderSize, header.MetadataLength), (header.Flags, Routes: _routeNames), static (span, state) => WireFormat.ReadMetadata(span, state.Flags, state.Routes));
                        buffer = buffer.Slice(prefix);
                        skip = header.BodyLength;
                        await OnOversizeAsync(header, message, _maxBody).ConfigureAwait(false);
                        continue;
                    }

                    if (buffer.Length < header.FrameLength)
                    {
                        if (header.CarriesMessage && header.BodyLength >= LargeBodyMinimum && (header.Flags & FrameFlags.Fault) == 0 && !IsEndingReads
                            && buffer.Length >= WireFormat.HeaderSize + header.MetadataLength
                            && _connection.CanReadInto(_inputPosition, result.Buffer.Length))
                        {
                            // A large body that has not all arrived: the medium reads the rest straight into the buffer it
                            // ends up in, rather than into the pipe and from there into the buffer.
                            WatchFrame(partial: true, framed);
                            await ReadBodyIntoAsync(header, buffer).ConfigureAwait(false);
                            buffer = buffer.Slice(buffer.End);
                            framed = true;
                            continue;
                        }

                        break;
                    }

                    var metadata = buffer.Slice(WireFormat.HeaderSize, header.MetadataLength);
                    var body = buffer.Slice(WireFormat.HeaderSize + header.MetadataLength, header.BodyLength);
                    await HandleFrameAsync(header, metadata, body).ConfigureAwait(false);
                    buffer = buffer.Slice(header.FrameLength);
                    framed = true;
                }

                if (_prefaceSeen)
                {
                    WatchFrame(partial: !buffer.IsEmpty || skip > 0, framed);
                }

                if (result.IsCompleted)
                {
                    if (_connection.InputFailure is { } failure)
                    {
                        ExceptionDispatchInfo.Throw(failure); // the peer reset the connection, after every whole frame it sent was read
                    }

                    if (!buffer.IsEmpty || skip > 0)
                    {
                        throw new WireFormatException($"the peer closed the connection in the middle of a frame ({buffer.Length} bytes of it received)");
                    }

                    return;
                }
            }
            finally
            {
                if (!IsClosed)
                {
                    _inputPosition += result.Buffer.Length - buffer.Length;
                    _connection.Input.AdvanceTo(buffer.Start, result.Buffer.End);
                }
            }

            if (buffer.IsEmpty && skip == 0 && !IsClosed)
            {
                if (_connection.RunWorkInPlace() is { } successor)
                {
                    await successor.ConfigureAwait(false); // a new reader and frame loop took over: this loop ends with theirs
                    return;
                }

                if (IsClosed)
                {
                    return; // the work closed the connection
                }
            }
        }
    }

    /// <summary>
    /// Handles a large message frame whose body has not all arrived (<paramref name="held"/>: the frame's first bytes, all
    /// the loop holds): the body goes into a buffer of its own, what has arrived of it from the pipe, the rest straight
    /// from the medium (<see cref="DuplexConnection.ReadInto"/>), and the frame is handled with it.
    /// </summary>
    /// <remarks>
    /// The buffer takes the body's declared size before the rest arrives. That is no more than the connection could hold
    /// anyway (one frame, within the endpoint's <c>MaxMessageSize</c>), for no longer than the frame's
    /// <see cref="StreamTransportOptions.FrameTimeout"/>.
    /// </remarks>
    private async ValueTask ReadBodyIntoAsync(FrameHeader header, ReadOnlySequence<byte> held)
    {
        var prefix = WireFormat.HeaderSize + header.MetadataLength;
        var arrived = held.Slice(prefix);
        var length = header.BodyLength;
        var pooled = PoolsLargeBodies;
        var buffer = pooled ? ArrayPool<byte>.Shared.Rent(length) : GC.AllocateUninitializedArray<byte>(length);
        var taken = false;
        try
        {
            arrived.CopyTo(buffer);
            var rest = length - (int)arrived.Length;
            if (!await _connection.ReadInto(buffer.AsMemory((int)arrived.Length, rest)).ConfigureAwait(false))
            {
                throw new WireFormatException($"the peer closed the connection in the middle of a frame ({prefix + arrived.Length} bytes of it received, then part of the rest)");
            }

            _inputPosition += rest; // read past the pipe
            _bodyRead = buffer;
            try
            {
                await HandleFrameAsync(header, held.Slice(WireFormat.HeaderSize, header.MetadataLength), new ReadOnlySequence<byte>(buffer, 0, length)).ConfigureAwait(false);
            }
            finally
            {
                taken = _bodyRead is null; // ReadMessage took it; a frame dropped or refused before that did not
                _bodyRead = null;
            }
        }
        finally
        {
            if (pooled && !taken)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Hands a whole frame to <see cref="OnFrameAsync"/>. The peer has sent all of it, so no frame clock runs while this
    /// side handles it: an inline one-way handler the loop waits for, say, on a frame whose first bytes came in an earlier
    /// read, would otherwise get the connection closed as a stalled frame after <see cref="StreamTransportOptions.FrameTimeout"/>.
    /// The clock starts again after it, if the loop is left with part of a frame.
    /// </summary>
    private ValueTask HandleFrameAsync(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body)
    {
        if (_frameTimerArmed)
        {
            WatchFrame(partial: false, framed: false);
        }

        return OnFrameAsync(header, metadata, body);
    }

    private void CheckLimits(FrameHeader header)
    {
        if (header.MetadataLength > _maxMetadata)
        {
            throw new WireFormatException($"a {header.Type} frame declares {header.MetadataLength} bytes of route, ids and headers, over the {_maxMetadata}-byte MaxHeaderSize");
        }

        if (!header.CarriesMessage && header.BodyLength > _maxMetadata)
        {
            throw new WireFormatException($"a {header.Type} frame declares a {header.BodyLength}-byte body, over the {_maxMetadata}-byte MaxHeaderSize for control frames");
        }
    }

    /// <summary>
    /// The dedicated reader is about to run a piece of the work of one read. While more of that work waits to run, urgent
    /// frames this piece writes on this thread wait in the buffer, so that the responses and requests of many calls go out
    /// in one write instead of one each, and the peer reads them in one read; the last piece's frame takes them along.
    /// Work that is alone in its read (one call at a time) writes at once, as without a dedicated reader. Nothing waits
    /// longer than the work: <see cref="End"/> writes what is left, and a reader replaced because its work held it stops
    /// holding at once.
    /// </summary>
    public void Begin(bool more)
    {
        t_holdEpoch = Volatile.Read(ref _holdEpoch);
        t_holdingFor = more ? this : null;
    }

    /// <summary>Writes what the reader's work held back; after a replacement, the old reader's work holds nothing more.</summary>
    public void End(bool replaced)
    {
        if (t_holdingFor == this)
        {
            t_holdingFor = null;
        }

        if (!replaced && !Volatile.Read(ref _held))
        {
            // Nothing held: only this thread, while it ran the work, could have held a frame back (t_holdingFor).
            return;
        }

        var flush = false;
        lock (_gate)
        {
            if (replaced)
            {
                _holdEpoch++;
            }

            if (_held)
            {
                _held = false;
                _heldFrames = 0;
                flush = !_flushing && _pending.WrittenCount > 0 && !IsClosed;
                _flushing |= flush;
            }
        }

        if (flush && FlushAsync(InlineBatches) is { IsCompletedSuccessfully: false } written)
        {
            _ = ObserveFlushAsync(written);
        }
    }

    /// <summary>Waits for a flush nobody else waits for.</summary>
    private static async Task ObserveFlushAsync(ValueTask flush)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (IpcException)
        {
            // The connection closed; OnClosed failed whoever was waiting on it.
        }
    }

    /// <summary>What a write to a connection that is gone throws.</summary>
    private static bool IsConnectionFailure(Exception ex) =>
        ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or NotSupportedException
            or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException;

    /// <summary>The flusher's write failed: it stops flushing, closes the connection, and returns the error its caller gets.</summary>
    private IpcException FlushFailed(Exception ex)
    {
        lock (_gate)
        {
            _flushing = false;
        }

        Close(ex);
        return ConnectionLost();
    }

    private void RunScheduledFlush()
    {
        TaskCompletionSource? drained = null;
        var start = false;
        lock (_gate)
        {
            _flushScheduled = false;
            if (_flushing || _pending.WrittenCount == 0 || IsClosed)
            {
                if (!_flushing)
                {
                    drained = _drained;
                    _drained = null;
                }
            }
            else
            {
                _flushing = start = true;
            }
        }

        drained?.TrySetResult();
        if (start)
        {
            _ = ObserveFlushAsync(FlushAsync(int.MaxValue));
        }
    }

    /// <summary>
    /// The flusher (the caller set <see cref="_flushing"/>): writes the buffered frames batch by batch until none are left,
    /// or hands on to the thread pool after <paramref name="batches"/> batches.
    /// </summary>
    private async ValueTask FlushAsync(int batches)
    {
        FrameBuffer? written = null;
        TaskCompletionSource? drained = null;
        try
        {
            while (true)
            {
                FrameBuffer batch;
                TaskCompletionSource? space;
                lock (_gate)
                {
                    if (written is not null)
                    {
                        written.Reset();
                        _spare = written;
                        written = null;
                    }

                    if (_pending.WrittenCount == 0 || IsClosed)
                    {
                        _flushing = false;
                        drained = _flushScheduled ? null : _drained;
                        if (drained is not null)
                        {
                            _drained = null;
                        }

                        break;
                    }

                    if (batches-- == 0)
                    {
                        // Enough for one caller: the thread pool writes the rest, and this caller goes on.
                        _flushing = false;
                        if (!_flushScheduled)
                        {
                            _flushScheduled = true;
                            ThreadPool.UnsafeQueueUserWorkItem(static connection => connection.RunScheduledFlush(), this, preferLocal: false);
                        }

                        return;
                    }

                    batch = _pending;
                    _pending = _spare!;
                    _spare = null;
                    space = _space;
                    _space = null;
                }

                space?.TrySetResult(); // there is room again in the new buffer
                written = batch;
                await _connection.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
            }

            drained?.TrySetResult(); // everything buffered so far is written
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            throw FlushFailed(ex);
        }
    }



}

/// <summary>Reads a span with some state.</summary>
internal delegate TResult ReadOnlySpanFunc<in TState, out TResult>(ReadOnlySpan<byte> span, TState state);
