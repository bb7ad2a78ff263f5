using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Ipc.Transports.Streams;

/// <summary>
/// The server side of one connection: runs requests and streams concurrently on the thread pool, one-way messages one
/// after another in arrival order, and sends the responses back on the same connection.
/// </summary>
internal sealed partial class ServerConnection : StreamConnection
{
    private const int OneWayQueueCapacity = 1024;
    private static readonly TimeSpan s_goAwayBound = TimeSpan.FromSeconds(1);

    private readonly IIpcDispatcher _dispatcher;
    private readonly TimeProvider _time;
    private readonly CancellationToken _serverStopping;
    private readonly ConcurrentDictionary<uint, ServerCall> _calls = new();
    private readonly Channel<IpcMessage> _oneWay = Channel.CreateBounded<IpcMessage>(new BoundedChannelOptions(OneWayQueueCapacity)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly ITimer _handshakeTimer;
    private readonly bool _inline;
    private Task? _oneWayLoop;

    public ServerConnection(Stream stream, IIpcDispatcher dispatcher, StreamTransportOptions options, bool dedicatedReader, TimeProvider time, CancellationToken serverStopping, ILogger logger, string description)
        : base(stream, dispatcher.MaxMessageSize, options.MaxHeaderSize, dedicatedReader, options.ReaderSpin, logger, description)
    {
        _dispatcher = dispatcher;
        _time = time;
        _serverStopping = serverStopping;
        _inline = options.InlineHandlers;
        _handshakeTimer = time.CreateTimer(
            static state =>
            {
                var (connection, timeout) = ((ServerConnection, TimeSpan))state!;
                LogHandshakeTimeout(connection.Logger, connection.Description, timeout);
                connection.Close(new TimeoutException($"The client did not send the Ipc preface within {timeout}."));
            },
            (this, options.HandshakeTimeout),
            options.HandshakeTimeout,
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>Serves the connection until it closes, then waits for the one-way messages already received to be handled.</summary>
    public async Task ServeAsync()
    {
        try
        {
            await SendPrefaceAsync().ConfigureAwait(false);
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
            _oneWay.Writer.TryComplete();
            if (_oneWayLoop is not null)
            {
                await _oneWayLoop.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Tells the client the server is stopping (its pending calls fail with Unavailable at once) and closes.</summary>
    public async Task ShutdownAsync()
    {
        await SendGoAwayAsync(IpcErrorCode.Unavailable, $"The server ({Description}) is stopping.").ConfigureAwait(false);
        Close();
    }

    protected override void OnPrefaceReceived() => _handshakeTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    protected override ValueTask OnFrameAsync(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body)
    {
        switch (header.Type)
        {
            case FrameType.Request:
            case FrameType.StreamRequest:
                var request = ReadClientMessage(header, metadata, body);
                var call = new ServerCall(this, header.CallId, request, header.Type == FrameType.StreamRequest);
                if (!_calls.TryAdd(header.CallId, call))
                {
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
                var message = ReadClientMessage(header, metadata, body);
                if (_inline)
                {
                    return Handled(_dispatcher.DispatchOneWayAsync(message, _serverStopping)); // in order, on the read loop
                }

                _oneWayLoop ??= Task.Run(OneWayLoopAsync, CancellationToken.None);
                return _oneWay.Writer.TryWrite(message) ? default : _oneWay.Writer.WriteAsync(message, Closed);
            case FrameType.Cancel:
                if (_calls.TryGetValue(header.CallId, out var cancelled))
                {
                    cancelled.Cancel();
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
                LogOversizeDropped(Logger, message.MessageId, message.Route, Description, header.BodyLength, maxBody);
                StreamDiagnostics.ServerDropped.Add(1, new KeyValuePair<string, object?>("rpc.service", _dispatcher.EndpointName));
                return default;
            default:
                throw new WireFormatException($"the client sent a {header.Type} frame, which only a server sends");
        }
    }

    protected override async ValueTask OnProtocolErrorAsync(WireFormatException error) =>
        await SendGoAwayAsync(IpcErrorCode.ProtocolError, $"The server closed the connection: {error.Message}.").ConfigureAwait(false);

    protected override void OnClosed(Exception? reason)
    {
        foreach (var call in _calls.Values)
        {
            call.Cancel();
        }
    }

    /// <summary>Waits for a one-way message to be handled; its outcome is the dispatcher's to log, as a stream has no acknowledgement to send.</summary>
    private static ValueTask Handled(ValueTask<IpcOneWayOutcome> outcome)
    {
        if (outcome.IsCompletedSuccessfully)
        {
            _ = outcome.Result; // consumed once, as a ValueTask must be
            return default;
        }

        return AwaitAsync(outcome);

        static async ValueTask AwaitAsync(ValueTask<IpcOneWayOutcome> outcome) => await outcome.ConfigureAwait(false);
    }

    private static IpcMessage ReadClientMessage(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body)
    {
        if ((header.Flags & FrameFlags.Fault) != 0)
        {
            throw new WireFormatException($"the client sent a {header.Type} frame with the fault flag, which only responses carry");
        }

        return ReadMessage(header, metadata, body);
    }

    private async Task SendGoAwayAsync(IpcErrorCode code, string reason)
    {
        try
        {
            // Bounded: a client that reads nothing must not keep the connection open. On the thread pool, because a
            // blocking write to such a client only returns once the connection is closed after the bound.
            await Task.Run(() => SendAsync(static (writer, state) => WireFormat.WriteGoAway(writer, state.Code, state.Reason), (Code: code, Reason: reason), urgent: true).AsTask())
                .WaitAsync(s_goAwayBound, _time).ConfigureAwait(false);
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
            _calls.TryRemove(id, out _);
            return default;
        }

        if (!pending.IsCompletedSuccessfully)
        {
            _ = RunCallAsync(id, request, call, pending);
            return default;
        }

        _calls.TryRemove(id, out _);
        return SendResponseAsync(id, pending.Result);
    }

    private async ValueTask SendResponseAsync(uint id, IpcMessage response)
    {
        try
        {
            await SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, FrameType.Response, state.Id, state.Response), (Id: id, Response: response), urgent: true)
                .ConfigureAwait(false);
        }
        catch (IpcException)
        {
            // The connection closed while answering; the client has already failed the call.
        }
    }

    /// <summary>Runs a call to its end and answers it; <paramref name="started"/> is a request whose handler already began on the read loop.</summary>
    private async Task RunCallAsync(uint id, IpcMessage request, ServerCall call, ValueTask<IpcMessage>? started = null)
    {
        try
        {
            if (call.Credits is null)
            {
                await AnswerAsync(id, started ?? _dispatcher.DispatchRequestAsync(request, call.Token)).ConfigureAwait(false);
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
            _calls.TryRemove(id, out _);
        }
    }

    private async Task AnswerAsync(uint id, ValueTask<IpcMessage> pending)
    {
        var response = await pending.ConfigureAwait(false);
        _calls.TryRemove(id, out _); // answered: a Cancel frame from now on finds nothing to cancel
        await SendResponseAsync(id, response).ConfigureAwait(false);
    }

    private async Task RunStreamAsync(uint id, IpcMessage request, ServerCall call)
    {
        await foreach (var item in _dispatcher.DispatchStreamAsync(request, call.Token).WithCancellation(call.Token).ConfigureAwait(false))
        {
            await call.Credits!.WaitAsync(call.Token).ConfigureAwait(false);
            await SendAsync(static (writer, state) => WireFormat.WriteMessage(writer, FrameType.StreamItem, state.Id, state.Item), (Id: id, Item: item), urgent: false)
                .ConfigureAwait(false);
        }

        _calls.TryRemove(id, out _);
        await SendAsync(static (writer, id) => WireFormat.WriteControl(writer, FrameType.StreamEnd, id), id, urgent: true).ConfigureAwait(false);
    }

    private async Task OneWayLoopAsync()
    {
        var reader = _oneWay.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_serverStopping).ConfigureAwait(false))
            {
                while (reader.TryRead(out var message))
                {
                    await _dispatcher.DispatchOneWayAsync(message, _serverStopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_serverStopping.IsCancellationRequested)
        {
            var lost = 0;
            while (reader.TryRead(out var message))
            {
                lost++;
                LogNotDelivered(Logger, message.MessageId, message.Route, Description);
            }

            if (lost > 0)
            {
                StreamDiagnostics.ServerDropped.Add(lost, new KeyValuePair<string, object?>("rpc.service", _dispatcher.EndpointName));
            }
        }
    }

    [LoggerMessage(101, LogLevel.Warning, "Closing connection {Connection}: the client did not send the Ipc preface within {Timeout}.")]
    private static partial void LogHandshakeTimeout(ILogger logger, string connection, TimeSpan timeout);

    [LoggerMessage(102, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on {Connection} was dropped: its {Size}-byte body is over the {MaxMessageSize}-byte MaxMessageSize.")]
    private static partial void LogOversizeDropped(ILogger logger, string messageId, string route, string connection, int size, int maxMessageSize);

    [LoggerMessage(103, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on {Connection} was accepted but not delivered: the server stopped first.")]
    private static partial void LogNotDelivered(ILogger logger, string messageId, string route, string connection);

    /// <summary>A request or stream running on the server: its handler's token and, for a stream, the items the client allows.</summary>
    private sealed class ServerCall(ServerConnection connection, uint id, IpcMessage request, bool isStream) : IReaderWork
    {
        private readonly CancellationTokenSource _cancellation = new();

        public CancellationToken Token => _cancellation.Token;

        public SemaphoreSlim? Credits { get; } = isStream ? new SemaphoreSlim(WireFormat.InitialStreamCredit) : null;

        public void Cancel() => _cancellation.Cancel();

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
