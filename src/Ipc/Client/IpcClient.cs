using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Ipc.Diagnostics;
using Ipc.Resilience;
using Ipc.Serialization;
using Ipc.Server;
using Ipc.Transports;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Ipc.Client;

/// <summary>
/// The runtime's client of one endpoint: serializes, stamps ids and trace context, runs every call through the endpoint's
/// resilience pipeline (timeouts, retries, circuit breaker) and maps failures to the Ipc error model.
/// </summary>
internal sealed class IpcClient : IRequestClient, IChannel, IAsyncDisposable, IDisposable
{
    private static readonly ValueTask<Outcome<object>> s_sent = Outcome.FromResultAsValueTask<object>(true);

    private readonly EndpointRuntime _endpoint;
    private readonly IIpcTransportClient _transport;
    private readonly EndpointResilience _resilience;
    private int _disposed;

    public IpcClient(EndpointRuntime endpoint, EndpointResilience resilience)
    {
        _endpoint = endpoint;
        _resilience = resilience;
        _transport = endpoint.Transport.CreateClient(endpoint.TransportContext);
    }

    public string EndpointName => _endpoint.Name;

    public TransportCapabilities Capabilities => _endpoint.Capabilities;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<TResponse> RequestAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default)
    {
        var message = CreateMessage(route, request, options);
        var response = await InvokeAsync(message, cancellationToken).ConfigureAwait(false);
        return BodyCodec.Decode<TResponse>(_endpoint.Serializer, response, "response");
    }

    public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        StampCorrelation(request, request.CallOptions);
        return InvokeAsync(request, cancellationToken);
    }

    public async IAsyncEnumerable<TResponse> StreamAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var message = CreateMessage(route, request, options);
        await foreach (var item in StreamCoreAsync(message, cancellationToken).ConfigureAwait(false))
        {
            yield return BodyCodec.Decode<TResponse>(_endpoint.Serializer, item, "stream item");
        }
    }

    public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        StampCorrelation(request, request.CallOptions);
        return StreamCoreAsync(request, cancellationToken);
    }

    public ValueTask SendAsync<TMessage>(string route, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        SendCoreAsync(CreateMessage(route, message, options), publish: false, cancellationToken);

    public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        StampCorrelation(message, message.CallOptions);
        return SendCoreAsync(message, publish: false, cancellationToken);
    }

    public ValueTask SendBatchAsync<TMessage>(string route, IEnumerable<TMessage> messages, IpcCallOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(messages);
        if (options?.MessageId is not null)
        {
            throw new ArgumentException(
                "IpcCallOptions.MessageId names one message, and every message of a batch gets an id of its own. Leave MessageId unset for SendBatchAsync, or send that message with SendAsync.",
                nameof(options));
        }

        Require(TransportCapabilities.OneWay, "SendBatchAsync");
        var batch = new List<IpcMessage>(messages.TryGetNonEnumeratedCount(out var count) ? count : 16);
        foreach (var message in messages)
        {
            batch.Add(CreateMessage(route, message, options));
        }

        return SendBatchCoreAsync(batch, options, cancellationToken);
    }

    public ValueTask SendBatchAsync(IReadOnlyList<IpcMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        Require(TransportCapabilities.OneWay, "SendBatchAsync");
        var batch = new IpcMessage[messages.Count]; // a copy: the caller's list may change while the batch is sent
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = messages[i] ?? throw new ArgumentException($"Message {i} of the batch is null; every message of a batch must be set.", nameof(messages));
            StampCorrelation(batch[i], batch[i].CallOptions);
        }

        return SendBatchCoreAsync(batch, batch.Length == 0 ? null : batch[0].CallOptions, cancellationToken);
    }

    public ValueTask PublishAsync<TMessage>(string topic, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        SendCoreAsync(CreateMessage(topic, message, options), publish: true, cancellationToken);

    public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        StampCorrelation(message, message.CallOptions);
        return SendCoreAsync(message, publish: true, cancellationToken);
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType.IsInstanceOfType(this))
        {
            return this;
        }

        // The circuit breaker's state, for health checks; the pipeline, for calls of your own through it.
        if (serviceType == typeof(CircuitBreakerStateProvider))
        {
            return _resilience.CircuitBreaker;
        }

        if (serviceType == typeof(ResiliencePipeline))
        {
            return _resilience.Pipeline;
        }

        // The endpoint's serializer, with which a DelegatingChannel or DelegatingRequestClient turns a typed call into a raw one.
        if (serviceType == typeof(IIpcSerializer))
        {
            return _endpoint.Serializer;
        }

        return serviceType.IsInstanceOfType(_transport) ? _transport : null;
    }

    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _disposed, 1) == 0 ? _transport.DisposeAsync() : default;

    // The container disposes keyed clients and the factory disposes what it created: both may call; the first wins.
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private IpcMessage CreateMessage<T>(string route, T value, IpcCallOptions? options)
    {
        ArgumentNullException.ThrowIfNull(route);
        var message = new IpcMessage(route, BodyCodec.Encode(_endpoint.Serializer, value, route));
        if (options?.MessageId is { } messageId)
        {
            message.MessageId = messageId;
        }

        if (options?.Headers is { } headers)
        {
            foreach (var (name, headerValue) in headers)
            {
                message.Headers[name] = headerValue;
            }
        }

        message.ContentType = _endpoint.Serializer.ContentType;
        message.CallOptions = options;
        StampCorrelation(message, options);
        return message;
    }

    private static void StampCorrelation(IpcMessage message, IpcCallOptions? options)
    {
        message.CorrelationId ??= options?.CorrelationId ?? IpcDispatcher.CurrentContext?.CorrelationId ?? message.MessageId;
    }

    private void Require(TransportCapabilities capability, string call)
    {
        if ((_endpoint.Capabilities & capability) == 0)
        {
            throw new IpcException(
                IpcErrorCode.NotSupported,
                $"{call} needs {capability}, which the {_endpoint.Transport.Name} transport of endpoint '{_endpoint.Name}' ({_endpoint.TransportContext.DisplayAddress}) does not support. Choose a transport that does, or set RequiredCapabilities to catch this at start.")
            { Endpoint = _endpoint.Name };
        }
    }

    /// <summary>Checks a message before it is sent: a route no server can map, a body over the endpoint's limit.</summary>
    private void Check(IpcMessage message)
    {
        if (RouteNames.Check(message.Route) is not RouteNames.Problem.None and var problem)
        {
            throw new IpcException(
                IpcErrorCode.NoHandler,
                $"The route '{message.Route}' {RouteNames.Describe(problem)}, so no server maps such a route: the call to endpoint '{_endpoint.Name}' was not sent. Call the route by the name its server maps; {RouteNames.Rule}.")
            { Endpoint = _endpoint.Name };
        }

        if (message.Body.Length > _endpoint.Options.MaxMessageSize)
        {
            throw new IpcException(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the {_endpoint.Options.MaxMessageSize}-byte MaxMessageSize of endpoint '{_endpoint.Name}'. Send less, or raise MaxMessageSize on both sides.")
            { Endpoint = _endpoint.Name };
        }
    }

    /// <summary>
    /// Fails a call whose own timeout leaves it no time (zero or negative, not <see cref="Timeout.InfiniteTimeSpan"/>) at
    /// once, unsent, as a server does not run a request that arrives with none: a timeout strategy applies no timeout at
    /// all for such a value, so the call would otherwise run unbounded.
    /// </summary>
    private void CheckTimeLeft(IpcCallOptions? options)
    {
        if (options?.Timeout is { } timeout && timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new IpcTimeoutException(
                $"The call to endpoint '{_endpoint.Name}' had no time left: its IpcCallOptions.Timeout is {timeout}, so it was not sent. Give it a positive timeout, or Timeout.InfiniteTimeSpan for none.")
            {
                Endpoint = _endpoint.Name,
                Timeout = timeout,
            };
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> InvokeAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        Require(TransportCapabilities.RequestResponse, "RequestAsync");
        Check(message);
        CheckTimeLeft(message.CallOptions);
        cancellationToken.ThrowIfCancellationRequested();
        var telemetry = _endpoint.Telemetry;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ClientRequestDuration); // no clock reads while nothing listens
        using var activity = telemetry.StartClient(message, IpcOperation.Request);
        telemetry.Count(telemetry.Metrics.ClientSentMessages, telemetry.Metrics.ClientSentBytes, IpcOperation.Request, message.Route, 1, message.Body.Length);
        string? errorType = null;
        var context = _resilience.RentContext(message.Route, message.CallOptions?.Timeout, message.CallOptions?.Idempotent, cancellationToken);
        var ownTimeout = message.Timeout; // each attempt sends the time it has left; the caller's message gets its own value back
        var totalDeadline = CallDeadlines.Deadline(_resilience.TotalTimeoutOf(message.CallOptions?.Timeout), _endpoint.TransportContext.TimeProvider);
        try
        {
            // The same message goes to every attempt, so a retry keeps its message id. Attempts report failures as
            // outcomes rather than exceptions, so a call that succeeds at once never goes through an async adapter.
            // Outcomes are typed object, the type Polly's own strategies work in, so no strategy adapts each one.
            Outcome<object> outcome;
            try
            {
                outcome = await _resilience.Outer.ExecuteOutcomeAsync(
                    static (ctx, state) => state.Client._resilience.RunAttempt(static (ctx, state) => state.Client.AttemptRequestAsync(state.Message, state.OwnTimeout, state.TotalDeadline, ctx), ctx, state),
                    context,
                    (Client: this, Message: message, OwnTimeout: ownTimeout, TotalDeadline: totalDeadline)).ConfigureAwait(false);
            }
            catch (Exception ex) when (Translate(ex, cancellationToken) is { } mapped)
            {
                throw mapped; // a pipeline of the user's (PipelineName) may still throw instead of returning an outcome
            }

            if (outcome.Exception is { } error)
            {
                var failure = Cause(error, context);
                throw Translate(failure, cancellationToken) ?? Rethrow(failure);
            }

            var response = (IpcMessage)outcome.Result!;
            telemetry.Count(telemetry.Metrics.ClientReceivedMessages, telemetry.Metrics.ClientReceivedBytes, IpcOperation.Request, message.Route, 1, response.Body.Length);
            return response;
        }
        catch (Exception ex) when (Failed(ex, activity, out errorType))
        {
            throw; // not reached: the filter only marks the span and keeps the error type for the histogram
        }
        finally
        {
            message.Timeout = ownTimeout;
            ResilienceContextPool.Shared.Return(context);
            telemetry.RecordDuration(telemetry.Metrics.ClientRequestDuration, started, IpcOperation.Request, message.Route, errorType);
        }
    }

    private ValueTask<Outcome<object>> AttemptRequestAsync(IpcMessage message, TimeSpan? ownTimeout, long totalDeadline, ResilienceContext context)
    {
        ValueTask<IpcMessage> pending;
        try
        {
            message.Timeout = CallDeadlines.Remaining(context, totalDeadline, ownTimeout, _endpoint.TransportContext.TimeProvider); // the server's deadline

            pending = _resilience.OutcomeChaos is { } chaos
                ? chaos.ExecuteAsync(static (ctx, state) => state.Transport.RequestAsync(state.Message, ctx.CancellationToken), context, (Transport: _transport, Message: message))
                : _transport.RequestAsync(message, context.CancellationToken);
        }
        catch (Exception ex)
        {
            return Outcome.FromExceptionAsValueTask<object>(ex);
        }

        if (!pending.IsCompletedSuccessfully)
        {
            return CompleteAttemptAsync(pending);
        }

        // Read once: a ValueTask backed by a pooled source must not be consumed twice.
        return new ValueTask<Outcome<object>>(ToOutcome(pending.Result));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome<object>> CompleteAttemptAsync(ValueTask<IpcMessage> pending)
    {
        try
        {
            return ToOutcome(await pending.ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            return Outcome.FromException<object>(ex);
        }
    }

    /// <summary>A response carrying a fault fails the attempt, so a transient one (a server that is stopping) is retried like a transport failure.</summary>
    private Outcome<object> ToOutcome(IpcMessage response) =>
        response.Fault is { } fault ? Outcome.FromException<object>(fault.ToException(_endpoint.Name)) : Outcome.FromResult<object>(response);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendCoreAsync(IpcMessage message, bool publish, CancellationToken cancellationToken)
    {
        Require(publish ? TransportCapabilities.PublishSubscribe : TransportCapabilities.OneWay, publish ? "PublishAsync" : "SendAsync");
        Check(message);
        CheckTimeLeft(message.CallOptions);
        cancellationToken.ThrowIfCancellationRequested();
        var telemetry = _endpoint.Telemetry;
        var operation = publish ? IpcOperation.Publish : IpcOperation.Send;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ClientSendDuration);
        using var activity = telemetry.StartClient(message, operation);
        string? errorType = null;
        var context = _resilience.RentContext(message.Route, message.CallOptions?.Timeout, message.CallOptions?.Idempotent, cancellationToken);
        try
        {
            Outcome<object> outcome;
            try
            {
                outcome = await _resilience.Outer.ExecuteOutcomeAsync(
                    static (ctx, state) => state.Client._resilience.RunAttempt(static (ctx, state) => state.Client.AttemptSendAsync(state.Message, state.Publish, ctx), ctx, state),
                    context,
                    (Client: this, Message: message, Publish: publish)).ConfigureAwait(false);
            }
            catch (Exception ex) when (Translate(ex, cancellationToken) is { } mapped)
            {
                throw mapped;
            }

            if (outcome.Exception is { } error)
            {
                var failure = Cause(error, context);
                throw Translate(failure, cancellationToken) ?? Rethrow(failure);
            }

            telemetry.Count(telemetry.Metrics.ClientSentMessages, telemetry.Metrics.ClientSentBytes, operation, message.Route, 1, message.Body.Length);
        }
        catch (Exception ex) when (Failed(ex, activity, out errorType))
        {
            throw; // not reached
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
            telemetry.RecordDuration(telemetry.Metrics.ClientSendDuration, started, operation, message.Route, errorType);
        }
    }

    private ValueTask<Outcome<object>> AttemptSendAsync(IpcMessage message, bool publish, ResilienceContext context)
    {
        ValueTask pending;
        try
        {
            pending = publish ? _transport.PublishAsync(message, context.CancellationToken) : _transport.SendAsync(message, context.CancellationToken);
        }
        catch (Exception ex)
        {
            return Outcome.FromExceptionAsValueTask<object>(ex);
        }

        return pending.IsCompletedSuccessfully ? s_sent : CompleteSendAsync(pending);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Outcome<object>> CompleteSendAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
            return s_sent.Result;
        }
        catch (Exception ex)
        {
            return Outcome.FromException<object>(ex);
        }
    }

    /// <summary>Runs the pipeline once for a whole batch; each attempt sends the messages not yet accepted, in order.</summary>
    private async ValueTask SendBatchCoreAsync(IReadOnlyList<IpcMessage> batch, IpcCallOptions? options, CancellationToken cancellationToken)
    {
        foreach (var message in batch)
        {
            Check(message);
        }

        CheckTimeLeft(options);
        cancellationToken.ThrowIfCancellationRequested();
        if (batch.Count == 0)
        {
            return;
        }

        var telemetry = _endpoint.Telemetry;
        var route = batch[0].Route;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ClientSendDuration);
        using var activity = telemetry.StartClientBatch(batch);
        string? errorType = null;
        var progress = new BatchProgress(batch);
        var context = _resilience.RentContext(route, options?.Timeout, IsIdempotent(batch), cancellationToken);
        try
        {
            Outcome<object> outcome;
            try
            {
                outcome = await _resilience.Outer.ExecuteOutcomeAsync(
                    static (ctx, state) => state.Client._resilience.RunAttempt(static (ctx, state) => state.Client.AttemptBatchAsync(state.Progress, ctx), ctx, state),
                    context,
                    (Client: this, Progress: progress)).ConfigureAwait(false);
            }
            catch (Exception ex) when (BatchFailure(ex, progress, cancellationToken) is { } mapped)
            {
                throw mapped;
            }

            if (outcome.Exception is { } error)
            {
                var failure = Cause(error, context);
                throw BatchFailure(failure, progress, cancellationToken) ?? Rethrow(failure);
            }
        }
        catch (Exception ex) when (Failed(ex, activity, out errorType))
        {
            throw; // not reached
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
            if (progress.Accepted > 0)
            {
                var size = 0L;
                for (var i = 0; i < progress.Accepted; i++)
                {
                    size += batch[i].Body.Length;
                }

                telemetry.Count(telemetry.Metrics.ClientSentMessages, telemetry.Metrics.ClientSentBytes, IpcOperation.SendBatch, route, progress.Accepted, size);
            }

            telemetry.RecordDuration(telemetry.Metrics.ClientSendDuration, started, IpcOperation.SendBatch, route, errorType);
        }
    }

    /// <summary>
    /// Whether a batch may be resent after any transient failure: only when every message of it is idempotent (by its
    /// route, its own <c>IpcCallOptions.Idempotent</c> or the endpoint), as a raw batch may mix routes and options.
    /// </summary>
    private bool IsIdempotent(IReadOnlyList<IpcMessage> batch)
    {
        foreach (var message in batch)
        {
            if (!_resilience.IsIdempotent(message.Route, message.CallOptions?.Idempotent))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>One attempt of a batch: sends from the first message not yet accepted, without an async step while the transport takes each at once.</summary>
    private ValueTask<Outcome<object>> AttemptBatchAsync(BatchProgress progress, ResilienceContext context)
    {
        var messages = progress.Messages;
        while (progress.Accepted < messages.Count)
        {
            ValueTask pending;
            try
            {
                pending = _transport.SendAsync(messages[progress.Accepted], context.CancellationToken);
                if (!pending.IsCompletedSuccessfully)
                {
                    return CompleteBatchAsync(pending, progress, context);
                }

                pending.GetAwaiter().GetResult(); // consumed once, as a ValueTask must be
            }
            catch (Exception ex)
            {
                return Outcome.FromExceptionAsValueTask<object>(ex);
            }

            progress.Accepted++;
        }

        return s_sent;
    }

    private async ValueTask<Outcome<object>> CompleteBatchAsync(ValueTask pending, BatchProgress progress, ResilienceContext context)
    {
        try
        {
            await pending.ConfigureAwait(false);
            progress.Accepted++;
            var messages = progress.Messages;
            while (progress.Accepted < messages.Count)
            {
                await _transport.SendAsync(messages[progress.Accepted], context.CancellationToken).ConfigureAwait(false);
                progress.Accepted++;
            }

            return s_sent.Result;
        }
        catch (Exception ex)
        {
            return Outcome.FromException<object>(ex);
        }
    }

    /// <summary>
    /// Maps a batch's failure like a single call's, then says how far the batch got; returns <see langword="null"/> when
    /// the exception propagates as it is (the caller cancelled, or the client was disposed).
    /// </summary>
    private IpcException? BatchFailure(Exception ex, BatchProgress progress, CancellationToken cancellationToken)
    {
        var failure = Translate(ex, cancellationToken) ?? ex;
        if (!IpcException.TryGetErrorCode(failure, out var code) || (failure is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return null;
        }

        var messages = progress.Messages;
        var accepted = progress.Accepted;
        var notAccepted = failure is IpcException { NotAccepted: true };
        var fate = accepted == messages.Count
            ? "all of them were accepted"
            : notAccepted
                ? $"message {accepted} (id {messages[accepted].MessageId}) and the ones after it were not sent"
                : $"message {accepted} (id {messages[accepted].MessageId}) may or may not have been accepted, and the ones after it were not sent";
        return new IpcException(
            code,
            $"A batch of {messages.Count} messages to endpoint '{_endpoint.Name}' failed after {accepted} of them were accepted (those are delivered); {fate}. {failure.Message}",
            failure)
        {
            Endpoint = _endpoint.Name,
            AcceptedCount = accepted,
            NotAccepted = notAccepted,
        };
    }

    /// <summary>
    /// The failure a call reports: a circuit breaker that refused a retry does not hide why the call failed before it, so a
    /// call pending when its server died fails with that (<see cref="IpcErrorCode.Unavailable"/>), not
    /// <see cref="IpcErrorCode.CircuitOpen"/>, which is for calls the breaker refused to start.
    /// </summary>
    private static Exception Cause(Exception error, ResilienceContext context) =>
        error is BrokenCircuitException && context.Properties.TryGetValue(IpcResiliencePredicates.LastTransientFailure, out var cause) ? cause : error;

    /// <summary>Rethrows an attempt's exception with its original stack; never returns.</summary>
    private static Exception Rethrow(Exception exception)
    {
        ExceptionDispatchInfo.Throw(exception);
        return exception;
    }

    private async IAsyncEnumerable<IpcMessage> StreamCoreAsync(IpcMessage message, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Require(TransportCapabilities.Streaming, "StreamAsync");
        Check(message);
        CheckTimeLeft(message.CallOptions);
        cancellationToken.ThrowIfCancellationRequested();
        var telemetry = _endpoint.Telemetry;
        var started = EndpointTelemetry.Start(telemetry.Metrics.ClientStreamDuration);
        using var activity = telemetry.StartClient(message, IpcOperation.Stream);
        telemetry.Count(telemetry.Metrics.ClientSentMessages, telemetry.Metrics.ClientSentBytes, IpcOperation.Stream, message.Route, 1, message.Body.Length);
        string? errorType = null;
        try
        {
            // The pipeline covers the stream until its first item: an attempt that fails before it is retried, later failures are not.
            StreamStart start;
            var context = _resilience.RentContext(message.Route, message.CallOptions?.Timeout, message.CallOptions?.Idempotent, cancellationToken);
            try
            {
                start = await _resilience.Pipeline.ExecuteAsync(static (ctx, state) => state.Client.StartStreamAsync(state.Message, ctx, state.Token), context, (Client: this, Message: message, Token: cancellationToken)).ConfigureAwait(false);
            }
            catch (Exception ex) when (StartFailure(ex, context, cancellationToken, activity, ref errorType) is { } mapped)
            {
                throw Rethrow(mapped); // keeps the stack of an earlier attempt's failure, the cause of a refused retry
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }

            await using var _ = start.ConfigureAwait(false);
            if (!start.HasFirst)
            {
                yield break;
            }

            var item = start.Enumerator.Current;
            while (true)
            {
                telemetry.Count(telemetry.Metrics.ClientReceivedMessages, telemetry.Metrics.ClientReceivedBytes, IpcOperation.Stream, message.Route, 1, item.Body.Length);
                yield return item;
                try
                {
                    if (!await start.Enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }

                    item = start.Enumerator.Current;
                }
                catch (Exception ex) when (TranslateFailed(ex, cancellationToken, activity, ref errorType) is { } mapped)
                {
                    throw mapped;
                }

                if (item.Fault is { } fault)
                {
                    var failure = fault.ToException(_endpoint.Name);
                    Failed(failure, activity, out errorType);
                    throw failure;
                }
            }
        }
        finally
        {
            telemetry.RecordDuration(telemetry.Metrics.ClientStreamDuration, started, IpcOperation.Stream, message.Route, errorType);
        }
    }

    /// <summary>One attempt of a stream call: starts the transport's stream and waits for its first item.</summary>
    private async ValueTask<StreamStart> StartStreamAsync(IpcMessage message, ResilienceContext context, CancellationToken cancellationToken)
    {
        // The stream outlives the attempt, so it gets a token of its own; the attempt's token (its timeouts) applies until the first item.
        var streamCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var enumerator = _transport.StreamAsync(message, streamCts.Token).GetAsyncEnumerator(streamCts.Token);
        try
        {
            bool hasFirst;
            using (context.CancellationToken.Register(static cts => ((CancellationTokenSource)cts!).Cancel(), streamCts))
            {
                hasFirst = await enumerator.MoveNextAsync().ConfigureAwait(false);
            }

            // A timeout that fired as the first item arrived, before its registration was gone, cancelled the stream's
            // token all the same: the stream cannot go on, so the attempt timed out (or the caller cancelled it).
            streamCts.Token.ThrowIfCancellationRequested();

            if (hasFirst && enumerator.Current.Fault is { } fault)
            {
                throw fault.ToException(_endpoint.Name);
            }

            return new StreamStart(enumerator, streamCts, hasFirst);
        }
        catch
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
            streamCts.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Maps a failure to the Ipc error model and marks the activity; returns <see langword="null"/> when the exception
    /// already fits and propagates as it is (it runs as an exception filter, so the stack is not unwound for those).
    /// </summary>
    private Exception? Translate(Exception ex, CancellationToken cancellationToken)
    {
        var result = ex switch
        {
            OperationCanceledException when cancellationToken.IsCancellationRequested => ex, // the caller cancelled: surface as OperationCanceledException
            TimeoutRejectedException timeout => new IpcTimeoutException(
                $"The call to endpoint '{_endpoint.Name}' did not complete within {timeout.Timeout}. Raise its RequestTimeout (or Resilience:TotalTimeout and Resilience:AttemptTimeout), or make the handler faster.",
                ex)
            {
                Endpoint = _endpoint.Name,
                Timeout = timeout.Timeout,
            },
            BrokenCircuitException broken => new IpcException(
                IpcErrorCode.CircuitOpen,
                $"The circuit breaker of endpoint '{_endpoint.Name}' is open after repeated transient failures; calls fail at once{(broken.RetryAfter is { } after ? $" for about {after}" : string.Empty)}, then one is let through to probe the endpoint.",
                ex)
            {
                Endpoint = _endpoint.Name,
                NotAccepted = true,
            },
            ExecutionRejectedException rejected => new IpcException(
                IpcErrorCode.Unavailable,
                $"The resilience pipeline of endpoint '{_endpoint.Name}' rejected the call: {rejected.Message}",
                ex)
            {
                Endpoint = _endpoint.Name,
                NotAccepted = true,
            },
            IpcException or IpcTimeoutException or ObjectDisposedException => ex,
            OperationCanceledException => new IpcException(
                IpcErrorCode.Unknown,
                $"The {_endpoint.Transport.Name} transport of endpoint '{_endpoint.Name}' ended the call as cancelled, though neither its caller nor a timeout cancelled it: {ex.Message}",
                ex)
            {
                Endpoint = _endpoint.Name,
            },
            _ => new IpcException(IpcErrorCode.Unknown, $"The {_endpoint.Transport.Name} transport of endpoint '{_endpoint.Name}' failed unexpectedly: {ex.Message}", ex)
            {
                Endpoint = _endpoint.Name,
            },
        };

        return ReferenceEquals(result, ex) ? null : result;
    }

    /// <summary>
    /// The failure of a stream call before its first item, as a request's: when the circuit breaker refused a retry, the
    /// failure of the attempt before it (<see cref="Cause"/>), mapped; <see langword="null"/> when the exception propagates as it is.
    /// </summary>
    private Exception? StartFailure(Exception ex, ResilienceContext context, CancellationToken cancellationToken, Activity? activity, ref string? errorType)
    {
        var failure = Cause(ex, context);
        return TranslateFailed(failure, cancellationToken, activity, ref errorType) ?? (ReferenceEquals(failure, ex) ? null : failure);
    }

    /// <summary>
    /// The failure as the caller gets it (<see langword="null"/> when <paramref name="ex"/> propagates as it is); marks the
    /// call's span failed and gives the <c>error.type</c> its duration is recorded with.
    /// </summary>
    private Exception? TranslateFailed(Exception ex, CancellationToken cancellationToken, Activity? activity, ref string? errorType)
    {
        var mapped = Translate(ex, cancellationToken);
        Failed(mapped ?? ex, activity, out var type);
        errorType = type;
        return mapped;
    }

    /// <summary>
    /// Marks the call's span failed and gives the <c>error.type</c> its duration is recorded with; always returns
    /// <see langword="false"/>, so as an exception filter it lets the exception propagate with its stack.
    /// </summary>
    private static bool Failed(Exception ex, Activity? activity, out string errorType)
    {
        errorType = IpcDiagnostics.ErrorType(ex);
        IpcDiagnostics.SetError(activity, errorType, ex.Message);
        return false;
    }

    /// <summary>The messages of a batch and how many of them, from the first, the transport has accepted.</summary>
    private sealed class BatchProgress(IReadOnlyList<IpcMessage> messages)
    {
        public IReadOnlyList<IpcMessage> Messages { get; } = messages;

        public int Accepted { get; set; }
    }

    /// <summary>A started stream: its enumerator (positioned on the first item when there is one) and the token source it runs on.</summary>
    private sealed class StreamStart(IAsyncEnumerator<IpcMessage> enumerator, CancellationTokenSource cancellation, bool hasFirst) : IAsyncDisposable
    {
        public IAsyncEnumerator<IpcMessage> Enumerator { get; } = enumerator;

        public bool HasFirst { get; } = hasFirst;

        public async ValueTask DisposeAsync()
        {
            await Enumerator.DisposeAsync().ConfigureAwait(false);
            cancellation.Dispose();
        }
    }
}
