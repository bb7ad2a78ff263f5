using System.Buffers;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;

namespace Ipc.Transports.Streams;

/// <summary>
/// The client side of one connection: many calls at once, each with its own call id; responses are matched to calls by id.
/// When the connection is lost every pending call fails at once with <see cref="IpcErrorCode.Unavailable"/>.
/// </summary>
internal sealed class ClientConnection : StreamConnection
{
    private readonly CallTable<PendingCall> _calls = new();
    private readonly TaskCompletionSource _settingsReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _endpoint;
    private readonly bool _inlineCompletions;
    private uint _nextId;
    private IpcFault? _goAway;
    private uint _goAwayLastCallId;
    private SemaphoreSlim? _callSlots;
    private SemaphoreSlim? _oneWayCredits;
    private RequestCall? _spareCall; // the last call that ended with a response, to reuse

    public ClientConnection(DuplexConnection connection, string endpoint, int maxBody, StreamTransportOptions options, TimeProvider time, ILogger logger, string description)
        : base(connection, maxBody, options, options.DedicatedReaders, options.FrameTimeout, time, logger, description)
    {
        _endpoint = endpoint;
        _inlineCompletions = options.UnsafePreferInlineCompletions;
    }

    /// <summary>Gets a value indicating whether new calls may use this connection.</summary>
    public bool IsUsable => !IsClosed && Volatile.Read(ref _goAway) is null;

    /// <summary>Gets how many requests and streams the server lets this connection have in flight (known after the handshake).</summary>
    internal int MaxConcurrentCalls { get; private set; }

    /// <summary>Sends the preface and waits for the server's preface and settings.</summary>
    public async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        await SendPrefaceAsync().ConfigureAwait(false);
        await _settingsReceived.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends a request once the server's limit of calls in flight allows one more, and returns its answer to await. When
    /// the request is written at once (the usual case) the caller awaits the pending call itself, with no asynchronous
    /// method between: the call holds the cancellation's registration and goes back to the connection, for the next
    /// request to reuse, as its caller reads the answer.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the call, and tells the server.</param>
    /// <param name="resend">
    /// Where a request the server never read goes instead (the connection closed, or the server went away, before it read
    /// it), with the same token; <see langword="null"/> to fail it as not accepted.
    /// </param>
    public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend = null) =>
        _callSlots!.Wait(0) ? SendRequest(request, cancellationToken, resend) : RequestWhenSlotFreeAsync(request, cancellationToken, resend);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> RequestWhenSlotFreeAsync(IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend)
    {
        try
        {
            await WaitForCreditAsync(_callSlots!, cancellationToken).ConfigureAwait(false); // the server's limit: queue here
        }
        catch (IpcException ex) when (ex.NotAccepted && resend is not null)
        {
            return await resend(request, cancellationToken).ConfigureAwait(false);
        }

        return await SendRequest(request, cancellationToken, resend).ConfigureAwait(false);
    }

    /// <summary>Files and writes a request that has its call slot; returns its answer to await.</summary>
    private ValueTask<IpcMessage> SendRequest(IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend)
    {
        var call = Interlocked.Exchange(ref _spareCall, null) ?? new RequestCall(this);
        call.Start(request, _inlineCompletions, cancellationToken, resend);
        uint id;
        ValueTask sent;
        try
        {
            id = Register(call);
        }
        catch (Exception ex)
        {
            return NotSent(ex, request, cancellationToken, resend); // not filed
        }

        try
        {
            sent = SendMessageAsync(FrameType.Request, id, request, urgent: true);
        }
        catch (Exception ex)
        {
            return WriteFailed(ex, call, id, request, cancellationToken, resend);
        }

        if (!sent.IsCompletedSuccessfully)
        {
            return AnswerWhenSentAsync(sent, call, id, request, cancellationToken, resend);
        }

        sent.GetAwaiter().GetResult(); // a ValueTask is read once, even a completed one
        return call.Await(cancellationToken);
    }

    /// <summary>Waits for a request's write to finish, then for its answer.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> AnswerWhenSentAsync(ValueTask sent, RequestCall call, uint id, IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend)
    {
        Exception? failure = null;
        try
        {
            await sent.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        return await (failure is null ? call.Await(cancellationToken) : WriteFailed(failure, call, id, request, cancellationToken, resend)).ConfigureAwait(false);
    }

    /// <summary>
    /// A filed request whose write failed. If the connection's close ended the call first, the call's own outcome
    /// stands (it fails, or sends the request on itself: never twice), unless it failed as lost without sending it on
    /// where the write's failure says nothing went out.
    /// </summary>
    private ValueTask<IpcMessage> WriteFailed(Exception failure, RequestCall call, uint id, IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend)
    {
        if (TryEnd(id, out _))
        {
            return NotSent(failure, request, cancellationToken, resend);
        }

        return resend is not null && failure is IpcException { NotAccepted: true } ? OutcomeOrResendAsync(call, request, cancellationToken, resend) : call.Await(cancellationToken);

        static async ValueTask<IpcMessage> OutcomeOrResendAsync(RequestCall call, IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>> resend)
        {
            try
            {
                return await call.Await(cancellationToken).ConfigureAwait(false);
            }
            catch (IpcException ex) when (!ex.NotAccepted && call.MayResend)
            {
                return await resend(request, cancellationToken).ConfigureAwait(false); // lost, but it never went out
            }
        }
    }

    /// <summary>A request nothing of which was written: sent on elsewhere when that is allowed, else failed with <paramref name="error"/>.</summary>
    private static ValueTask<IpcMessage> NotSent(Exception error, IpcMessage request, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend) =>
        resend is not null && error is IpcException { NotAccepted: true } ? resend(request, cancellationToken) : ValueTask.FromException<IpcMessage>(error);

    /// <summary>Sends a one-way message once the server's grant allows one more (<see cref="StreamTransportOptions.MaxQueuedOneWayMessages"/>).</summary>
    public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        if (!_oneWayCredits!.Wait(0))
        {
            return SendWhenGrantedAsync(message, cancellationToken);
        }

        return SendAsync(static (writer, message) => WireFormat.WriteMessage(writer, FrameType.OneWay, 0, message), message, urgent: false);
    }

    public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!_callSlots!.Wait(0))
        {
            await WaitForCreditAsync(_callSlots, cancellationToken).ConfigureAwait(false);
        }

        var call = new StreamCall { MessageId = request.MessageId };
        var id = Register(call);
        var finished = false;
        try
        {
            await SendMessageAsync(FrameType.StreamRequest, id, request, urgent: true)
                .ConfigureAwait(false);
            var consumed = 0;
            var reader = call.Items.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    yield return item;
                    if (++consumed == WireFormat.InitialStreamCredit / 2)
                    {
                        consumed = 0;
                        call.Grant(WireFormat.InitialStreamCredit / 2); // before the server can have the grant
                        try
                        {
                            await SendAsync(static (writer, id) => WireFormat.WriteCredit(writer, id, WireFormat.InitialStreamCredit / 2), id, urgent: true).ConfigureAwait(false);
                        }
                        catch (IpcException)
                        {
                            // The connection is gone. The items that came before stay to be read, and the stream then
                            // ends with the connection's reason (a broken wire format, a lost connection), not this one.
                        }
                    }
                }
            }

            finished = true;
        }
        finally
        {
            if (!finished && _calls.TryRemove(id, out _))
            {
                _ = CancelAndReleaseAsync(id); // the consumer stopped early: stop the producer
            }
        }
    }

    protected override ValueTask OnFrameAsync(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body)
    {
        switch (header.Type)
        {
            case FrameType.Response:
                if (TryEnd(header.CallId, out var call))
                {
                    if (call is StreamCall)
                    {
                        throw WrongKind(header, call);
                    }

                    call.Complete(ReadMessage(header, metadata, body, call.MessageId));
                }

                break;
            case FrameType.StreamItem:
                if (_calls.TryGetValue(header.CallId, out var stream))
                {
                    if (stream is not StreamCall items)
                    {
                        throw WrongKind(header, stream);
                    }

                    if (!items.TryTakeAllowance())
                    {
                        // Items the caller has not read wait in memory: a server must keep to what it was granted.
                        throw new WireFormatException($"the server sent stream {header.CallId} more items than the client granted ({WireFormat.InitialStreamCredit} beyond its StreamCredit frames)");
                    }

                    stream.Complete(ReadMessage(header, metadata, body, stream.MessageId));
                }

                break;
            case FrameType.StreamEnd:
                if (TryEnd(header.CallId, out var ended))
                {
                    if (ended is not StreamCall)
                    {
                        throw WrongKind(header, ended);
                    }

                    ended.Fail(null);
                }

                break;
            case FrameType.Settings:
                var (maxCalls, oneWayWindow) = WithSpan(body, 0, static (span, _) => WireFormat.ReadSettings(span));
                if (_callSlots is not null)
                {
                    throw new WireFormatException("the server sent Settings twice");
                }

                MaxConcurrentCalls = maxCalls;
                _oneWayCredits = new SemaphoreSlim(oneWayWindow);
                _callSlots = new SemaphoreSlim(maxCalls);
                _settingsReceived.TrySetResult();
                break;
            case FrameType.OneWayCredit:
                var credit = WithSpan(body, 0, static (span, _) => WireFormat.ReadCredit(span));
                if (_oneWayCredits is null || credit == 0 || credit > int.MaxValue - _oneWayCredits.CurrentCount)
                {
                    throw new WireFormatException($"a OneWayCredit frame grants {credit} messages");
                }

                _oneWayCredits.Release((int)credit);
                break;
            case FrameType.GoAway:
                var fault = WithSpan(body, 0, static (span, _) => DecodeGoAway(span));
                _goAwayLastCallId = header.CallId;
                Volatile.Write(ref _goAway, fault);
                FailPending(new IpcException(fault.ErrorCode, fault.Message) { Endpoint = _endpoint });
                _ = CloseWhenDrainedAsync(); // one-way messages already buffered still reach the server, which reads until it sees the end
                break;
            default:
                throw new WireFormatException($"the server sent a {header.Type} frame, which only a client sends");
        }

        return default;
    }

    /// <summary>
    /// Refuses a Response to a stream, or a StreamItem or StreamEnd to a request: the call would end the wrong way (a
    /// stream that never ends, a request answered with an item and then answered again). The connection closes with the
    /// returned error; a call already taken out of the table fails with it here, as the close fails those still in it.
    /// </summary>
    private WireFormatException WrongKind(FrameHeader header, PendingCall call)
    {
        var error = new WireFormatException($"the server sent a {header.Type} frame for call {header.CallId}, which is a {(call is StreamCall ? "stream" : "request")}");
        if (!_calls.TryGetValue(header.CallId, out _))
        {
            call.Fail(BrokeFormat(error));
        }

        return error;
    }

    /// <summary>Refuses, before its body is discarded, an oversized frame that answers the wrong kind of call (<see cref="WrongKind"/>).</summary>
    private void CheckCallKind(FrameHeader header)
    {
        if (_calls.TryGetValue(header.CallId, out var call) && (header.Type == FrameType.Response) == (call is StreamCall))
        {
            throw WrongKind(header, call);
        }
    }

    private IpcException BrokeFormat(WireFormatException format) =>
        new(IpcErrorCode.ProtocolError, $"The server broke the wire format ({Description}): {format.Message}.", format) { Endpoint = _endpoint };

    private static IpcFault DecodeGoAway(ReadOnlySpan<byte> body)
    {
        try
        {
            return WireFormat.DecodeKnownFault(body);
        }
        catch (WireFormatException ex)
        {
            throw new WireFormatException($"the fault of a GoAway frame is malformed: {ex.Message}");
        }
    }

    protected override ValueTask OnOversizeAsync(FrameHeader header, IpcMessage message, int maxBody)
    {
        CheckCallKind(header);
        var error = new IpcException(
            IpcErrorCode.MessageTooLarge,
            $"The response for route '{message.Route}' is {header.BodyLength} bytes, over the {maxBody}-byte MaxMessageSize of endpoint '{_endpoint}'. Raise MaxMessageSize on the client.")
        {
            Endpoint = _endpoint,
        };
        switch (header.Type)
        {
            case FrameType.Response:
                if (TryEnd(header.CallId, out var call))
                {
                    call.Fail(error);
                }

                break;
            case FrameType.StreamItem:
                if (_calls.TryRemove(header.CallId, out var stream))
                {
                    _ = CancelAndReleaseAsync(header.CallId);
                    stream.Fail(error);
                }

                break;
            default:
                throw new WireFormatException($"the server sent a {header.Type} frame, which only a client sends");
        }

        return default;
    }

    protected override IpcException ConnectionLost() =>
        Volatile.Read(ref _goAway) is { } goAway
            ? new IpcException(goAway.ErrorCode, goAway.Message) { Endpoint = _endpoint }
            : base.ConnectionLost();

    protected override void OnClosed(Exception? reason)
    {
        var error = reason is WireFormatException format ? BrokeFormat(format) : ConnectionLost();
        _settingsReceived.TrySetException(error);
        if (reason is not WireFormatException && Volatile.Read(ref _goAway) is null)
        {
            error = new IpcException(
                IpcErrorCode.Unavailable,
                $"The connection to the server ({Description}) was lost during the call{(reason is null ? ": the server closed it" : ": " + reason.GetBaseException().Message.TrimEnd('.'))}.",
                reason)
            {
                Endpoint = _endpoint,
            };
        }

        FailPending(error);
        ReportUnwritten();
    }

    /// <summary>
    /// Logs as not delivered each one-way message whose send completed (it was buffered) but that the connection never
    /// wrote, as it closed first: the server never got it. Requests among those frames fail their callers already.
    /// </summary>
    private void ReportUnwritten()
    {
        if (TakeUnwrittenFrames() is not { } frames)
        {
            return;
        }

        var span = frames.AsSpan();
        if (span.StartsWith(WireFormat.Preface))
        {
            span = span[WireFormat.PrefaceSize..];
        }

        try
        {
            while (span.Length >= WireFormat.HeaderSize)
            {
                var header = WireFormat.ReadHeader(span);
                if (span.Length < header.FrameLength)
                {
                    return;
                }

                if (header.Type == FrameType.OneWay)
                {
                    var message = WireFormat.ReadMetadata(span.Slice(WireFormat.HeaderSize, header.MetadataLength), header.Flags);
                    Log.NotWritten(Logger, message.MessageId, message.Route, Description);
                }

                span = span[(int)header.FrameLength..];
            }
        }
        catch (WireFormatException)
        {
            // Frames this side wrote itself: not expected.
        }
    }

    /// <summary>
    /// Fails every pending call with <paramref name="error"/>, except, after a GoAway, the calls the server says it never
    /// saw (ids past its last): those fail with <see cref="CallNotStartedException"/>, which the client sends again on a
    /// new connection.
    /// </summary>
    private void FailPending(IpcException error)
    {
        var goneAway = Volatile.Read(ref _goAway) is not null;
        foreach (var pending in _calls.Snapshot())
        {
            var id = pending.CallId;
            if (TryEnd(id, out var call))
            {
                call.Fail(goneAway && id > _goAwayLastCallId
                    ? new CallNotStartedException($"The server closed the connection ({Description}) before it read this call: {error.Message}") { Endpoint = _endpoint }
                    : error);
            }
        }
    }

    private async Task CloseWhenDrainedAsync()
    {
        try
        {
            await WhenDrainedAsync().WaitAsync(TimeSpan.FromSeconds(1), Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The server reads nothing more: close regardless.
        }

        Close();
    }

    private async ValueTask SendWhenGrantedAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        await WaitForCreditAsync(_oneWayCredits!, cancellationToken).ConfigureAwait(false);
        await SendAsync(static (writer, message) => WireFormat.WriteMessage(writer, FrameType.OneWay, 0, message), message, urgent: false).ConfigureAwait(false);
    }

    /// <summary>Waits for a call slot or a one-way grant, until the caller cancels or the connection closes.</summary>
    private async Task WaitForCreditAsync(SemaphoreSlim credits, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Closed);
        try
        {
            await credits.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Closed while waiting: nothing was written, so the call can go on another connection.
            throw NotStarted();
        }
    }

    private CallNotStartedException NotStarted() => new(ConnectionLost().Message) { Endpoint = _endpoint };

    /// <summary>Removes a pending call and frees its slot.</summary>
    private bool TryEnd(uint id, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out PendingCall call)
    {
        if (!_calls.TryRemove(id, out call))
        {
            return false;
        }

        _callSlots?.Release();
        return true;
    }

    /// <summary>
    /// Gives a call its id. A connection that closed or got the server's GoAway after the pool handed it out refuses the
    /// call with <see cref="CallNotStartedException"/>: nothing was written, so the client sends it on a new connection.
    /// </summary>
    private uint Register(PendingCall call)
    {
        if (!IsUsable)
        {
            throw NotStarted();
        }

        while (true)
        {
            var id = Interlocked.Increment(ref _nextId);
            call.CallId = id;
            if (id != 0 && _calls.TryAdd(id, call))
            {
                if (IsClosed && TryEnd(id, out _))
                {
                    throw NotStarted(); // closed between the check and the add: OnClosed may have missed this call
                }

                return id;
            }
        }
    }

    private void Cancel(uint id, CancellationToken token)
    {
        if (_calls.TryRemove(id, out var call))
        {
            _ = CancelAndReleaseAsync(id); // before the caller goes on, which may make its next call at once
            call.Cancel(token);
        }
    }

    /// <summary>
    /// Tells the server that a call taken out of the table is over, then frees its slot. The slot is freed only once the
    /// Cancel is buffered (at once, unless the output is full), so the Cancel goes out ahead of any call that takes the
    /// slot: the server counts the call out when the Cancel arrives, and would otherwise see one call more than it allows
    /// and refuse that one with ResourceExhausted.
    /// </summary>
    private async Task CancelAndReleaseAsync(uint id)
    {
        try
        {
            if (IsUsable)
            {
                // Not urgent: a cancel often comes from a timer's thread, which must not wait for a write to the stream.
                await SendAsync(static (writer, id) => WireFormat.WriteControl(writer, FrameType.Cancel, id), id, urgent: false).ConfigureAwait(false);
            }
        }
        catch (IpcException)
        {
            // The connection is gone, and with it the call on the server.
        }
        finally
        {
            _callSlots?.Release();
        }
    }

    private abstract class PendingCall : ICallTableEntry
    {
        /// <summary>Gets or sets the call's id, set before it is filed.</summary>
        public uint CallId { get; set; }

        /// <summary>Gets or sets the request's message id, which its responses carry too: they get this string rather than a new one.</summary>
        public string? MessageId { get; set; }

        public abstract void Complete(IpcMessage message);

        /// <summary>Ends the call with <paramref name="error"/>, or normally for a stream when it is <see langword="null"/>.</summary>
        public abstract void Fail(Exception? error);

        public abstract void Cancel(CancellationToken token);
    }

    /// <summary>
    /// A pending request. On a connection with a dedicated reader the caller continues on that reader, right after the
    /// read that brought its response (<see cref="StreamConnection.DeferToReader"/>); everywhere else, and for failures
    /// and cancellations, it continues on the thread pool, unless <c>UnsafePreferInlineCompletions</c> is on.
    /// </summary>
    /// <remarks>
    /// The call is its own completion source: one object per call, not a call, a task completion source and its task; and
    /// a connection reuses the last one answered, so a caller making one call after another allocates none.
    /// </remarks>
    private sealed class RequestCall(ClientConnection connection) : PendingCall, IReaderWork, IValueTaskSource<IpcMessage>
    {
        private bool _hops;
        private ManualResetValueTaskSourceCore<IpcMessage> _completion;
        private object? _outcome;
        private CancellationTokenRegistration _cancellation;
        private IpcMessage? _request; // with _resend, until the answer is read: to send again if the server never read it
        private Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? _resend;
        private CancellationToken _token;

        /// <summary>
        /// Prepares the call for <paramref name="request"/>, before it is filed. If the server never reads it, the call's
        /// outcome is <paramref name="resend"/>'s, when there is one, called with <paramref name="cancellationToken"/>.
        /// </summary>
        public void Start(IpcMessage request, bool inline, CancellationToken cancellationToken, Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>? resend)
        {
            MessageId = request.MessageId;
            if (resend is not null)
            {
                _request = request;
                _resend = resend;
                _token = cancellationToken;
            }

            _hops = !inline && connection.HasDedicatedReader; // continuations are synchronous, so this call hops itself
            _completion.RunContinuationsAsynchronously = !inline && !_hops;
        }

        /// <summary>
        /// Gets the call's outcome for its caller to await once, cancelled with <paramref name="cancellationToken"/>; the
        /// call goes back to its connection for the next request once its caller has read the response.
        /// </summary>
        public ValueTask<IpcMessage> Await(CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled)
            {
                _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((RequestCall)state!).CancelCall(token), this);
            }

            return new(this, _completion.Version);
        }

        /// <summary>Gets a value indicating whether the call ended without sending its request on (it had somewhere to send it).</summary>
        public bool MayResend => _resend is not null;

        /// <summary>The caller cancelled: ends the call and tells the server.</summary>
        public void CancelCall(CancellationToken token) => connection.Cancel(CallId, token);

        public override void Complete(IpcMessage message)
        {
            if (!_hops)
            {
                _completion.SetResult(message);
                return;
            }

            _outcome = message;
            if (!connection.DeferToReader(this))
            {
                ThreadPool.UnsafeQueueUserWorkItem(static call => call.Run(), this, preferLocal: false);
            }
        }

        public override void Fail(Exception? error) =>
            Finish(error ?? new InvalidOperationException("The call ended without a response."));

        public override void Cancel(CancellationToken token) => Finish(new OperationCanceledException(token));

        public void Run()
        {
            switch (_outcome)
            {
                case IpcMessage message:
                    _completion.SetResult(message);
                    break;
                case Exception error:
                    _completion.SetException(error);
                    break;
            }
        }

        IpcMessage IValueTaskSource<IpcMessage>.GetResult(short token)
        {
            IpcMessage response;
            try
            {
                response = _completion.GetResult(token);
            }
            finally
            {
                // Disposed before the call is reused: a cancellation that runs now finishes first, and none comes after.
                _cancellation.Dispose();
                _cancellation = default;
            }

            // Answered, and nothing else holds the call now (the table let it go before it completed): the next call reuses it.
            _completion.Reset();
            _outcome = null;
            _request = null;
            _resend = null;
            _token = default;
            MessageId = null;
            CallId = 0;
            Volatile.Write(ref connection._spareCall, this);
            return response;
        }

        ValueTaskSourceStatus IValueTaskSource<IpcMessage>.GetStatus(short token) => _completion.GetStatus(token);

        void IValueTaskSource<IpcMessage>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _completion.OnCompleted(continuation, state, token, flags);

        private void Finish(Exception error)
        {
            if (_resend is not null && error is IpcException { NotAccepted: true })
            {
                // The server never read the request: it goes once more elsewhere, from the thread pool (never from a
                // closing connection's thread), and its outcome is this call's.
                ThreadPool.UnsafeQueueUserWorkItem(static call => _ = call.ResendAsync(), this, preferLocal: false);
                return;
            }

            if (!_hops)
            {
                _completion.SetException(error); // a cancellation ends the await with its OperationCanceledException
                return;
            }

            // A failure comes from a closing connection or a cancellation callback: never continue the caller there.
            _outcome = error;
            ThreadPool.UnsafeQueueUserWorkItem(static call => call.Run(), this, preferLocal: false);
        }

        private async Task ResendAsync()
        {
            var resend = _resend!;
            _resend = null; // once
            IpcMessage answer;
            try
            {
                answer = await resend(_request!, _token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _completion.SetException(ex);
                return;
            }

            _completion.SetResult(answer);
        }
    }

    private sealed class StreamCall : PendingCall
    {
        private int _allowance = WireFormat.InitialStreamCredit;

        public Channel<IpcMessage> Items { get; } = Channel.CreateUnbounded<IpcMessage>(new UnboundedChannelOptions { SingleReader = true });

        /// <summary>Counts an item the server sent against what it may send; <see langword="false"/> past it.</summary>
        public bool TryTakeAllowance() => Interlocked.Decrement(ref _allowance) >= 0;

        /// <summary>Lets the server send <paramref name="items"/> more (the client's StreamCredit).</summary>
        public void Grant(int items) => Interlocked.Add(ref _allowance, items);

        public override void Complete(IpcMessage message) => Items.Writer.TryWrite(message);

        public override void Fail(Exception? error) => Items.Writer.TryComplete(error);

        public override void Cancel(CancellationToken token) => Items.Writer.TryComplete(new OperationCanceledException(token));
    }
}

/// <summary>A call the server never saw (queued locally, or past the last call id of its GoAway): safe to send again.</summary>
internal sealed class CallNotStartedException : IpcException
{
    public CallNotStartedException(string message)
        : base(IpcErrorCode.Unavailable, message)
    {
        NotAccepted = true;
    }
}
