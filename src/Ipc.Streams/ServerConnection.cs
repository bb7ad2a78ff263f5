using System.Runtime.CompilerServices;
using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Ipc.Transports.Streams;

/// <summary>
/// The server side of one connection: runs requests and streams concurrently on the thread pool, one-way messages one
/// after another in arrival order, and sends the responses back on the same connection.
/// </summary>
/// <remarks>
/// What one client can make it hold is bounded: calls in flight by <see cref="StreamTransportOptions.MaxConcurrentCallsPerConnection"/>,
/// queued one-way messages by <see cref="StreamTransportOptions.MaxQueuedOneWayMessages"/> (granted back as they are handled)
/// and their bodies by <see cref="StreamTransportOptions.MaxQueuedOneWayBytes"/> (no further frame is taken on past it),
/// unsent responses by <see cref="StreamTransportOptions.MaxOutputBufferSize"/> (reading pauses past it), a started frame's
/// time by <see cref="StreamTransportOptions.FrameTimeout"/>, and an idle connection's life by <see cref="StreamTransportOptions.IdleTimeout"/>.
/// </remarks>
internal sealed class ServerConnection : StreamConnection, IReaderWork
{
    private const int IdleChecks = 4;
    private static readonly TimeSpan s_goAwayBound = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_endOfReadingBound = TimeSpan.FromMilliseconds(100);

    private readonly IIpcDispatcher _dispatcher;
    private readonly string? _remoteAddress; // named once per connection, set on each message it reads
    private readonly TimeProvider _time;
    private readonly CancellationToken _drainEnded; // the server stopped and its DrainTimeout ended: one-way handlers are cancelled, the rest reported
    private readonly CancellationTokenRegistration _dropOnDrainEnd;
    private readonly CallTable<ServerCall> _calls = new();
    // Taken from by one drain at a time, but a drain that stops looks once more while the next may have started.
    private readonly ConcurrentQueue<(IpcMessage Message, byte[]? Pooled, int Size)> _oneWay = new();

    private readonly ITimer _handshakeTimer;
    private readonly ITimer? _idleTimer;
    private readonly bool _inline;
    private readonly int _maxCalls;
    private readonly int _oneWayWindow;
    private readonly int _oneWayGrantBatch;
    private readonly long _maxOneWayBytes;
    private readonly TimeSpan _idleTimeout;
    private int _oneWayDraining; // 1 while a drain of the one-way queue runs: one at a time, so messages are handled in order
    private TaskCompletionSource? _oneWayStopped; // set once the frame loop ended: completed when the drain has nothing left
    private int _openCalls;
    private int _oneWayQueued;
    private int _oneWayUngranted;
    private long _oneWayBytes; // the bodies of the one-way messages queued for handlers, until each is handled
    private TaskCompletionSource? _oneWayRoom; // set while the frame loop waits for _oneWayBytes to come under the limit
    private const long GoingAway = 1L << 32;

    // The highest call id this server took on (low 32 bits) and whether it has said GoAway (bit 32), changed together so
    // that a GoAway's last call id names exactly the calls that run: a call past it is never run and can go elsewhere.
    private long _callState;
    private long _framesSeen;
    private long _idleMark = -1;
    private int _idleTicks;

    public ServerConnection(DuplexConnection connection, IIpcDispatcher dispatcher, StreamTransportOptions options, bool dedicatedReader, TimeProvider time, CancellationToken drainEnded, ILogger logger, string description)
        : base(connection, dispatcher.MaxMessageSize, options, dedicatedReader, options.FrameTimeout, time, logger, description)
    {
        _dispatcher = dispatcher;
        _remoteAddress = connection.RemoteAddress;
        _time = time;
        _drainEnded = drainEnded;
        _inline = options.UnsafePreferInlineHandlers;
        _maxCalls = options.MaxConcurrentCallsPerConnection;
        _oneWayWindow = options.MaxQueuedOneWayMessages;
        _oneWayGrantBatch = Math.Max(1, _oneWayWindow / 2);
        _maxOneWayBytes = options.MaxQueuedOneWayBytes;
        _idleTimeout = options.IdleTimeout;
        if (_idleTimeout > TimeSpan.Zero)
        {
            // Checked a few times per IdleTimeout, with no clock read per frame: idle once nothing arrived and nothing
            // was in flight for IdleChecks checks in a row, so after IdleTimeout to 1.25 times it.
            var period = _idleTimeout / IdleChecks;
            _idleTimer = time.CreateTimer(static state => ((ServerConnection)state!).CheckIdle(), this, period, period);
        }

        _handshakeTimer = time.CreateTimer(
            static state =>
            {
                var (connection, timeout) = ((ServerConnection, TimeSpan))state!;
                Log.HandshakeTimeout(connection.Logger, connection.Description, timeout);
                connection.Close(new TimeoutException($"The client did not send the Ipc preface within {timeout}."));
            },
            (this, options.HandshakeTimeout),
            options.HandshakeTimeout,
            Timeout.InfiniteTimeSpan);

        // Reports what is still queued once the drain ends, without waiting for a handler that ignores its token.
        _dropOnDrainEnd = drainEnded.UnsafeRegister(static state => ((ServerConnection)state!).DropQueued(), this);
    }

    /// <summary>Serves the connection until it closes, then waits for the one-way messages already received to be handled.</summary>
    public async Task ServeAsync()
    {
        try
        {
            // The preface, then the limits this client must keep to.
            await SendAsync(
                static (writer, state) =>
                {
                    writer.Write(WireFormat.Preface);
                    WireFormat.WriteSettings(writer, state.Calls, state.Window);
                },
                (Calls: _maxCalls, Window: _oneWayWindow),
                urgent: true).ConfigureAwait(false);
        }
        catch (IpcException)
        {
            // The client went away before the preface; RunAsync sees the closed connection and returns.
        }

        try
        {
            await RunAsync().ConfigureAwait(false);
        }
        finally
        {
            await _handshakeTimer.DisposeAsync().ConfigureAwait(false);
            if (_idleTimer is not null)
            {
                await _idleTimer.DisposeAsync().ConfigureAwait(false);
            }

            await OneWayDrainedAsync().ConfigureAwait(false);
            await _dropOnDrainEnd.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Tells the client the server is stopping (its pending calls fail with Unavailable at once, and their handlers are
    /// cancelled), reads what the client sent before it knew (holding nothing back from then on), and closes. The one-way
    /// messages read are handled after the close, until the server's drain ends (<see cref="ServeAsync"/>).
    /// </summary>
    public async Task ShutdownAsync()
    {
        // As for an idle GoAway: no call with an id past the GoAway's last is taken on from here, since the client sends
        // those again elsewhere; one the frame loop reads before the close would otherwise run twice.
        Interlocked.Or(ref _callState, GoingAway);
        foreach (var call in _calls.Snapshot())
        {
            call.Cancel();
        }

        // From here the frame loop reads on without holding back for MaxQueuedOneWayBytes or a full output: a client whose
        // writes wait for it could otherwise not send what it buffered before it knew, and would close with those writes
        // cut off, its one-way messages lost where neither side reports them.
        BeginEndingReads(EndOfReadingBytes);
        await SendGoAwayAsync(IpcErrorCode.Unavailable, $"The server ({Description}) is stopping.").ConfigureAwait(false);

        // The client closes its side once it has sent what it buffered: a one-way message it sent before it read the
        // GoAway counts as sent, so it is read and handled too, not lost with the connection. Bounded in real time as
        // well, so that a stop never waits on a clock that does not move (a test's) for a client that does not close.
        await Task.WhenAny(Task.Delay(s_goAwayBound, _time, Closed), Task.Delay(s_goAwayBound, TimeProvider.System, Closed)).ConfigureAwait(false);
        await EndReadingAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// After the wait for the client's close: reads on for <see cref="s_endOfReadingBound"/> more (and at most
    /// <see cref="StreamTransportOptions.MaxQueuedOneWayBytes"/> and one message more, for a client that sends without end),
    /// no longer holding back for MaxQueuedOneWayBytes or a full output, then closes. The one-way messages of the frames a
    /// slow client sent are queued as the ones before them, so each is handled, or reported as not delivered once a
    /// stopping server's drain ends.
    /// </summary>
    private Task EndReadingAsync() => EndReadingAsync(EndOfReadingBytes, s_endOfReadingBound);

    /// <summary>Gets how much more input the end of reading takes: a stopping server's, from its GoAway on.</summary>
    private long EndOfReadingBytes => _maxOneWayBytes + _dispatcher.MaxMessageSize;

    protected override void OnEndingReads() => Interlocked.Exchange(ref _oneWayRoom, null)?.TrySetResult();

    /// <summary>Gets how many requests and streams are in flight on this connection (for tests and diagnostics).</summary>
    internal int OpenCalls => Volatile.Read(ref _openCalls);

    /// <summary>Gets how many one-way messages wait for their handler (for tests and diagnostics).</summary>
    internal int QueuedOneWayMessages => Volatile.Read(ref _oneWayQueued);

    protected override bool PauseReadingWhileOutputFull => true;

    protected override bool PoolsLargeBodies => true;

    protected override void OnPrefaceReceived() => _handshakeTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    protected override ValueTask OnFrameAsync(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body)
    {
        _framesSeen++;
        switch (header.Type)
        {
            case FrameType.Request:
            case FrameType.StreamRequest:
                var request = ReadClientMessage(header, metadata, body, out var pooled);
                if (!TakeCall(header.CallId))
                {
                    ReturnBody(pooled);
                    return default; // after the GoAway that named the last call this server runs: the client sends it again elsewhere
                }

                if (Interlocked.Increment(ref _openCalls) > _maxCalls)
                {
                    Interlocked.Decrement(ref _openCalls);
                    var refused = RefuseCallAsync(header, request);
                    ReturnBody(pooled);
                    return refused;
                }

                var call = new ServerCall(this, header.CallId, request, header.Type == FrameType.StreamRequest, pooled);
                if (!_calls.TryAdd(header.CallId, call))
                {
                    Interlocked.Decrement(ref _openCalls);
                    call.ReturnBody();
                    throw new WireFormatException($"call id {header.CallId} was reused while its call is still running");
                }

                if (_inline && call.Credits is null)
                {
                    return RunInlineAsync(header.CallId, request, call);
                }

                if (call.Credits is null && DeferToReader(call))
                {
                    return default; // the dedicated reader runs it as soon as this read's frames are handled
                }

                ThreadPool.UnsafeQueueUserWorkItem(static call => call.Start(), call, preferLocal: true); // usually picked up by this thread as soon as the read loop waits for more
                return default;
            case FrameType.OneWay:
                var message = ReadClientMessage(header, metadata, body, out var pooledBody);
                CountOneWay();
                if (_inline)
                {
                    return DispatchOneWayInlineAsync(message, pooledBody); // in order, on the read loop
                }

                // Never more than the client was granted, and the frame loop takes on frames only while their bodies are under
                // MaxQueuedOneWayBytes (WaitToTakeFrameAsync).
                var size = (int)body.Length;
                Interlocked.Add(ref _oneWayBytes, size);
                _oneWay.Enqueue((message, pooledBody, size));
                if (Interlocked.CompareExchange(ref _oneWayDraining, 1, 0) == 0 && !DeferToReader(this))
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static connection => connection.DrainOneWay(), this, preferLocal: true);
                }

                return default;
            case FrameType.Cancel:
                if (TryEndCall(header.CallId, out var cancelled))
                {
                    cancelled.Cancel(); // the client counts the call ended once it sent this, so this server does too
                }

                return default;
            case FrameType.StreamCredit:
                var credit = WithSpan(body, 0, static (span, _) => WireFormat.ReadCredit(span));
                if (_calls.TryGetValue(header.CallId, out var stream))
                {
                    stream.Grant(credit);
                }

                return default;
            case FrameType.GoAway:
                Close();
                return default;
            default:
                throw new WireFormatException($"the client sent a {header.Type} frame, which only a server sends");
        }
    }

    protected override ValueTask OnOversizeAsync(FrameHeader header, IpcMessage message, int maxBody)
    {
        var fault = new IpcFault(
            IpcErrorCode.MessageTooLarge,
            $"The message for route '{message.Route}' is {header.BodyLength} bytes, over the {maxBody}-byte MaxMessageSize of endpoint '{_dispatcher.EndpointName}'. Send less, or raise MaxMessageSize on both sides.");
        switch (header.Type)
        {
            case FrameType.Request:
                return SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, FrameType.Response, state.Id, state.Fault), (Id: header.CallId, Fault: IpcMessage.CreateFault(message, fault)), urgent: true);
            case FrameType.StreamRequest:
                return SendAsync(
                    static (writer, state) =>
                    {
                        WireFormat.WriteMessage(writer, FrameType.StreamItem, state.Id, state.Fault);
                        WireFormat.WriteControl(writer, FrameType.StreamEnd, state.Id);
                    },
                    (Id: header.CallId, Fault: IpcMessage.CreateFault(message, fault)),
                    urgent: true);
            case FrameType.OneWay:
                CountOneWay();
                OneWayHandled();
                Log.OversizeDropped(Logger, message.MessageId, message.Route, Description, header.BodyLength, maxBody);
                Telemetry?.MessagesDropped(message.Route, 1);
                return default;
            default:
                throw new WireFormatException($"the client sent a {header.Type} frame, which only a server sends");
        }
    }

    protected override async ValueTask OnProtocolErrorAsync(WireFormatException error) =>
        await SendGoAwayAsync(IpcErrorCode.ProtocolError, $"The server closed the connection: {error.Message}.").ConfigureAwait(false);

    /// <summary>Answers a call past <see cref="StreamTransportOptions.MaxConcurrentCallsPerConnection"/>: a client that keeps to the announced limit never gets here.</summary>
    private ValueTask RefuseCallAsync(FrameHeader header, IpcMessage request)
    {
        var fault = IpcMessage.CreateFault(request, new IpcFault(
            IpcErrorCode.ResourceExhausted,
            $"The server allows at most {_maxCalls} calls in flight per connection (MaxConcurrentCallsPerConnection of endpoint '{_dispatcher.EndpointName}'); this client sent more. Clients built on Ipc wait for a call to end instead."));
        return header.Type == FrameType.Request
            ? SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, FrameType.Response, state.Id, state.Fault), (Id: header.CallId, Fault: fault), urgent: true)
            : SendAsync(
                static (writer, state) =>
                {
                    WireFormat.WriteMessage(writer, FrameType.StreamItem, state.Id, state.Fault);
                    WireFormat.WriteControl(writer, FrameType.StreamEnd, state.Id);
                },
                (Id: header.CallId, Fault: fault),
                urgent: true);
    }

    /// <summary>Counts a one-way message in against the client's grant; more than was granted breaks the format.</summary>
    private void CountOneWay()
    {
        if (Interlocked.Increment(ref _oneWayQueued) > _oneWayWindow)
        {
            throw new WireFormatException($"the client sent more one-way messages than the {_oneWayWindow} the server granted (MaxQueuedOneWayMessages)");
        }
    }

    /// <summary>
    /// Counts a one-way message out once handled, and grants the client more in batches of half the window. The drain
    /// (<see cref="DrainOneWay"/>) and the frame loop (which drops messages that are too large) both count out, at the same time.
    /// </summary>
    private void OneWayHandled()
    {
        Interlocked.Decrement(ref _oneWayQueued);
        if (Interlocked.Increment(ref _oneWayUngranted) < _oneWayGrantBatch)
        {
            return;
        }

        var credit = (uint)Interlocked.Exchange(ref _oneWayUngranted, 0);
        if (credit > 0)
        {
            _ = GrantOneWayAsync(credit); // zero when the other side's count took this one along
        }
    }

    private async Task GrantOneWayAsync(uint credit)
    {
        try
        {
            await SendAsync(static (writer, credit) => WireFormat.WriteOneWayCredit(writer, credit), credit, urgent: true).ConfigureAwait(false);
        }
        catch (IpcException)
        {
            // The connection is gone; so is the client that waited for the grant.
        }
    }

    private async ValueTask DispatchOneWayInlineAsync(IpcMessage message, byte[]? pooled)
    {
        try
        {
            await _dispatcher.DispatchOneWayAsync(message, _drainEnded).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_drainEnded.IsCancellationRequested)
        {
            HandlerCancelled(message);
            throw;
        }
        finally
        {
            OneWayDone((message, pooled, 0)); // never queued: the frame loop waited for it
        }
    }

    /// <summary>Records <paramref name="id"/> as taken on, unless this server has said GoAway with a lower last call id.</summary>
    private bool TakeCall(uint id)
    {
        while (true)
        {
            var state = Volatile.Read(ref _callState);
            var last = (uint)state;
            if (id <= last)
            {
                return true;
            }

            if ((state & GoingAway) != 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _callState, id, state) == state)
            {
                return true;
            }
        }
    }

    /// <summary>The highest call id this server took on: what a GoAway names as the last call it runs.</summary>
    private uint LastCallId() => (uint)Volatile.Read(ref _callState);

    /// <summary>Removes a running call and counts it out of the calls in flight.</summary>
    private bool TryEndCall(uint id, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out ServerCall call)
    {
        if (!_calls.TryRemove(id, out call))
        {
            return false;
        }

        Interlocked.Decrement(ref _openCalls);
        return true;
    }

    /// <summary>Removes <paramref name="call"/> once it ended, unless a Cancel took it out already (its id may be in use again).</summary>
    private void EndCall(uint id, ServerCall call)
    {
        if (_calls.TryRemove(id, call))
        {
            Interlocked.Decrement(ref _openCalls);
        }
    }

    /// <summary>The idle timer's check: a connection with nothing in flight that received nothing for IdleTimeout is let go with GoAway.</summary>
    private void CheckIdle()
    {
        var seen = Volatile.Read(ref _framesSeen);
        if (seen != _idleMark || Volatile.Read(ref _openCalls) != 0 || Volatile.Read(ref _oneWayQueued) != 0)
        {
            _idleMark = seen;
            _idleTicks = 0;
            return;
        }

        if (++_idleTicks == IdleChecks && (Interlocked.Or(ref _callState, GoingAway) & GoingAway) == 0)
        {
            _ = CloseIdleAsync();
        }
    }

    private async Task CloseIdleAsync()
    {
        Log.IdleClosed(Logger, Description, _idleTimeout);
        await SendGoAwayAsync(IpcErrorCode.Unavailable, $"The server closed the connection ({Description}) after {_idleTimeout} without calls.").ConfigureAwait(false);
        try
        {
            // The client closes its side once it has sent what it buffered; one-way messages that arrive meanwhile run.
            await Task.Delay(s_goAwayBound, _time, Closed).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await EndReadingAsync().ConfigureAwait(false);
    }

    protected override void OnClosed(Exception? reason)
    {
        Interlocked.Exchange(ref _oneWayRoom, null)?.TrySetResult(); // the frame loop ends instead of waiting
        foreach (var call in _calls.Snapshot())
        {
            call.Cancel();
        }
    }

    /// <summary>
    /// Reads a client's message; a large body goes into <paramref name="pooled"/>, a rented buffer returned once the handler
    /// is done with the message (and its response, which may be the same bytes, is written).
    /// </summary>
    private IpcMessage ReadClientMessage(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body, out byte[]? pooled)
    {
        if ((header.Flags & FrameFlags.Fault) != 0)
        {
            throw new WireFormatException($"the client sent a {header.Type} frame with the fault flag, which only responses carry");
        }

        var message = ReadMessage(header, metadata, body, pool: true, out pooled);
        message.RemoteAddress = _remoteAddress;
        return message;
    }

    private static void ReturnBody(byte[]? pooled)
    {
        if (pooled is not null)
        {
            ArrayPool<byte>.Shared.Return(pooled);
        }
    }

    private async Task SendGoAwayAsync(IpcErrorCode code, string reason)
    {
        try
        {
            // Bounded: a client that reads nothing must not keep the connection open. On the thread pool, because a
            // blocking write to such a client only returns once the connection is closed after the bound.
            // Waits until everything buffered before it is written too, so the GoAway reaches the client before the close.
            await Task.Run(async () =>
            {
                await SendAsync(static (writer, state) => WireFormat.WriteGoAway(writer, state.Code, state.Reason, state.Last), (Code: code, Reason: reason, Last: LastCallId()), urgent: true)
                    .ConfigureAwait(false);
                await WhenDrainedAsync().ConfigureAwait(false);
            }).WaitAsync(s_goAwayBound, _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IpcException or TimeoutException)
        {
            // Best effort: the connection closes either way.
        }
    }

    /// <summary>Runs a request the frame loop left to the dedicated reader (see <see cref="StreamConnection.DeferToReader"/>).</summary>
    private void RunOnReader(uint id, IpcMessage request, ServerCall call)
    {
        try
        {
            var answered = RunInlineAsync(id, request, call);
            if (answered.IsCompleted)
            {
                answered.GetAwaiter().GetResult();
            }
            else
            {
                _ = ObserveAsync(answered);
            }
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    private async Task ObserveAsync(ValueTask answered)
    {
        try
        {
            await answered.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    /// <summary>Starts the handler on the read loop; answers there if it finished, else lets it finish on its own.</summary>
    private ValueTask RunInlineAsync(uint id, IpcMessage request, ServerCall call)
    {
        ValueTask<IpcMessage> pending;
        try
        {
            pending = _dispatcher.DispatchRequestAsync(request, call.Token);
        }
        catch (OperationCanceledException) when (call.Token.IsCancellationRequested)
        {
            EndCall(id, call);
            call.ReturnBody();
            return default;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            _ = RunCallAsync(id, request, call, pending);
            return default;
        }

        EndCall(id, call);
        return SendResponseAsync(id, pending.Result, call);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendResponseAsync(uint id, IpcMessage response, ServerCall call)
    {
        try
        {
            await SendMessageAsync(FrameType.Response, id, response, urgent: true)
                .ConfigureAwait(false);
        }
        catch (IpcException)
        {
            // The connection closed while answering; the client has already failed the call.
        }
        finally
        {
            call.ReturnBody(); // written: the response, which may be the request's own bytes, no longer needs them
        }
    }

    /// <summary>Runs a call to its end and answers it; <paramref name="started"/> is a request whose handler already began on the read loop.</summary>
    private async Task RunCallAsync(uint id, IpcMessage request, ServerCall call, ValueTask<IpcMessage>? started = null)
    {
        try
        {
            if (call.Credits is null)
            {
                await AnswerAsync(id, call, started ?? _dispatcher.DispatchRequestAsync(request, call.Token)).ConfigureAwait(false);
            }
            else
            {
                await RunStreamAsync(id, request, call).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (call.Token.IsCancellationRequested)
        {
            // The client cancelled, or the connection or server closed: there is nobody to answer.
        }
        catch (IpcException)
        {
            // The connection closed while answering; the client has already failed the call.
        }
        finally
        {
            EndCall(id, call);
            call.ReturnBody(); // the handler is done, whether or not it was answered
        }
    }

    private async Task AnswerAsync(uint id, ServerCall call, ValueTask<IpcMessage> pending)
    {
        var response = await pending.ConfigureAwait(false);
        EndCall(id, call); // answered: a Cancel frame from now on finds nothing to cancel
        await SendResponseAsync(id, response, call).ConfigureAwait(false);
    }

    private async Task RunStreamAsync(uint id, IpcMessage request, ServerCall call)
    {
        await foreach (var item in _dispatcher.DispatchStreamAsync(request, call.Token).WithCancellation(call.Token).ConfigureAwait(false))
        {
            await call.Credits!.WaitAsync(call.Token).ConfigureAwait(false);
            await SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, FrameType.StreamItem, state.Id, state.Item), (Id: id, Item: item), urgent: false)
                .ConfigureAwait(false);
        }

        EndCall(id, call);
        await SendAsync(static (writer, id) => WireFormat.WriteControl(writer, FrameType.StreamEnd, id), id, urgent: true).ConfigureAwait(false);
    }

    /// <summary>The drain the frame loop left to the dedicated reader, which runs it once the read's frames are handled.</summary>
    void IReaderWork.Run() => DrainOneWay();

    /// <summary>
    /// Handles the queued one-way messages in arrival order, each after the one before has finished. It runs where it
    /// was started (on the dedicated reader, or on the thread pool) while handlers finish at once; after a handler that
    /// does not, it goes on where that handler finishes. Only one drain runs at a time (<see cref="_oneWayDraining"/>);
    /// a message queued while one runs is handled by it. Never throws: the dispatcher reports a handler's failure.
    /// </summary>
    private void DrainOneWay()
    {
        while (true)
        {
            while (_oneWay.TryDequeue(out var item))
            {
                if (_drainEnded.IsCancellationRequested)
                {
                    NotDelivered(item);
                    continue;
                }

                ValueTask<IpcOneWayOutcome> handled;
                try
                {
                    handled = _dispatcher.DispatchOneWayAsync(item.Message, _drainEnded);
                }
                catch (Exception ex)
                {
                    OneWayFailed(item, ex);
                    continue;
                }

                if (!handled.IsCompletedSuccessfully)
                {
                    _ = DrainAfterAsync(handled, item); // the handler has not finished (or failed): the drain goes on after it
                    return;
                }

                OneWayDone(item);
            }

            // Nothing left: stop, unless a message came between the last look and the stop (the frame loop then saw this
            // drain running and left the message to it).
            Interlocked.Exchange(ref _oneWayDraining, 0);
            if (_oneWay.IsEmpty)
            {
                Volatile.Read(ref _oneWayStopped)?.TrySetResult();
                return;
            }

            if (Interlocked.CompareExchange(ref _oneWayDraining, 1, 0) != 0)
            {
                return; // the frame loop started another drain for it
            }
        }
    }

    private async Task DrainAfterAsync(ValueTask<IpcOneWayOutcome> handled, (IpcMessage Message, byte[]? Pooled, int Size) item)
    {
        try
        {
            await handled.ConfigureAwait(false);
            OneWayDone(item);
        }
        catch (Exception ex)
        {
            OneWayFailed(item, ex);
        }

        DrainOneWay();
    }

    private void OneWayDone((IpcMessage Message, byte[]? Pooled, int Size) item)
    {
        ReturnBody(item.Pooled);
        Dequeued(item.Size);
        OneWayHandled();
    }

    /// <summary>Counts a queued message's body out, and lets the frame loop go on once the bodies held are under the limit.</summary>
    private void Dequeued(int size)
    {
        if (size > 0 && Interlocked.Add(ref _oneWayBytes, -size) < _maxOneWayBytes)
        {
            Interlocked.Exchange(ref _oneWayRoom, null)?.TrySetResult();
        }
    }

    /// <summary>
    /// Holds the frame loop back, before it takes on another frame, while the one-way bodies queued for handlers are at
    /// <see cref="StreamTransportOptions.MaxQueuedOneWayBytes"/> or more: the client's further frames wait in the medium
    /// (the connection's input fills, then its socket, pipe or ring, and the client's writes wait).
    /// Handlers run on while it waits (the drain runs on the thread pool, on a dedicated reader once the frame loop waits,
    /// or after the handler it waits for), so the count comes down, or the connection closes.
    /// </summary>
    protected override ValueTask WaitToTakeFrameAsync() =>
        Volatile.Read(ref _oneWayBytes) < _maxOneWayBytes || IsEndingReads ? default : new ValueTask(WaitForOneWayRoomAsync());

    private async Task WaitForOneWayRoomAsync()
    {
        while (Volatile.Read(ref _oneWayBytes) >= _maxOneWayBytes && !IsClosed && !IsEndingReads)
        {
            var room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _oneWayRoom, room)?.TrySetResult();
            if (Volatile.Read(ref _oneWayBytes) < _maxOneWayBytes || IsClosed || IsEndingReads)
            {
                return; // it came down (or closed) between the look and the wait: the signal may have gone to no one
            }

            await room.Task.ConfigureAwait(false);
        }
    }

    /// <summary>The dispatcher threw (it reports a handler's failure itself): closes the connection, unless the server's drain ended.</summary>
    private void OneWayFailed((IpcMessage Message, byte[]? Pooled, int Size) item, Exception error)
    {
        OneWayDone(item);
        if (error is not OperationCanceledException || !_drainEnded.IsCancellationRequested)
        {
            Fail(error);
            return;
        }

        HandlerCancelled(item.Message);
    }

    /// <summary>Reports a one-way message whose handler ended on its token, cancelled as the server's drain ended: not delivered.</summary>
    private void HandlerCancelled(IpcMessage message)
    {
        Log.HandlerCancelled(Logger, message.MessageId, message.Route, Description);
        Telemetry?.MessagesDropped(message.Route, 1);
    }

    private void NotDelivered((IpcMessage Message, byte[]? Pooled, int Size) item)
    {
        ReturnBody(item.Pooled);
        Dequeued(item.Size);
        Log.NotDelivered(Logger, item.Message.MessageId, item.Message.Route, Description);
        Telemetry?.MessagesDropped(item.Message.Route, 1);
    }

    /// <summary>The server's drain ended: reports the one-way messages still queued as not delivered (the running handler's token is cancelled).</summary>
    private void DropQueued()
    {
        while (_oneWay.TryDequeue(out var item))
        {
            NotDelivered(item);
        }
    }

    /// <summary>
    /// Once the frame loop has ended (nothing more is queued): waits until the one-way messages already queued are handled,
    /// or, once the server stopped and its drain ended, reported as not delivered.
    /// </summary>
    private Task OneWayDrainedAsync()
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _oneWayStopped, stopped);
        if (Interlocked.CompareExchange(ref _oneWayDraining, 1, 0) == 0)
        {
            DrainOneWay(); // no drain runs: whatever is left is handled here (completes the signal when it is done)
        }

        return stopped.Task;
    }

    /// <summary>
    /// A request or stream running on the server: the source of its handler's token (one object with the call, not one
    /// beside it) and, for a stream, the items the client allows.
    /// </summary>
    private sealed class ServerCall(ServerConnection connection, uint id, IpcMessage request, bool isStream, byte[]? pooledBody) : CancellationTokenSource, IReaderWork, ICallTableEntry
    {
        private byte[]? _pooledBody = pooledBody;

        public uint CallId => id;

        public SemaphoreSlim? Credits { get; } = isStream ? new SemaphoreSlim(WireFormat.InitialStreamCredit) : null;

        /// <summary>Returns the request's rented body, once; call it only when neither the handler nor the response reads it any more.</summary>
        public void ReturnBody() => ServerConnection.ReturnBody(Interlocked.Exchange(ref _pooledBody, null));

        public void Run() => connection.RunOnReader(id, request, this);

        /// <summary>Runs the call on the thread pool, to its end.</summary>
        public void Start() => _ = connection.RunCallAsync(id, request, this);

        public void Grant(uint credit)
        {
            if (Credits is null || credit == 0 || credit > WireFormat.InitialStreamCredit * 64u)
            {
                throw new WireFormatException($"a StreamCredit frame grants {credit} items, or names a call that is not a stream");
            }

            try
            {
                Credits.Release((int)credit);
            }
            catch (SemaphoreFullException)
            {
                throw new WireFormatException("StreamCredit frames granted more than 2^31-1 outstanding items");
            }
        }
    }
}
