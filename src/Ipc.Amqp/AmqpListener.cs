using System.Text;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using AmqpChannel = RabbitMQ.Client.IChannel; // RabbitMQ.Client's channel, not Ipc.IChannel

namespace Ipc.Amqp;

/// <summary>
/// The server of an AMQP endpoint: it declares the queues its route table needs (see <see cref="AmqpTopology"/>),
/// consumes them with manual acknowledgements and a prefetch, and runs each delivery's handler on its own task.
/// </summary>
/// <remarks>
/// A request is answered to its <c>reply_to</c> and then acknowledged. A one-way or published message is acknowledged
/// only after its handler succeeded; after a failure it is published again (with its delivery count) or, after
/// <see cref="AmqpTransportOptions.MaxDeliveries"/> deliveries or a failure no delivery can get past, to the queue's
/// dead-letter queue with the error in its headers, and only then acknowledged. A message whose handler gave up because
/// the server stopped is published again with the deliveries it had before, uncounted, and acknowledged; one whose
/// handler was running when the connection was lost (or that still ran when the server closed) is not acknowledged, so
/// the broker delivers it again.
/// </remarks>
internal sealed class AmqpListener : IIpcTransportListener
{
    private readonly IpcTransportContext _context;
    private readonly AmqpTransportOptions _options;
    private readonly AmqpAddress _address;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running;
    private IIpcDispatcher? _dispatcher;
    private IConnection? _connection;
    private AmqpChannel? _control;
    private AmqpChannel? _requests;
    private AmqpChannel? _messages;
    private AmqpChannel? _replies;
    private AmqpAcknowledgements? _requestAcks;
    private AmqpAcknowledgements? _messageAcks;
    private readonly SemaphoreSlim _repliesLock = new(1, 1);
    private readonly List<(AmqpChannel Channel, string Tag)> _consumers = [];
    private int _state; // 0 new, 1 started, 2 stopped

    public AmqpListener(IpcTransportContext context, AmqpTransportOptions options)
    {
        _context = context;
        _options = options;
        _address = AmqpAddress.Resolve(context.Address, context.EndpointName, options);
        _logger = (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Amqp");
    }

    private string Endpoint => _context.EndpointName;

    public async ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatcher);
        if (dispatcher.Routes.FirstOrDefault(r => r.Kind == IpcRouteKind.Subscription && AmqpTopology.HasWildcard(r.Name)) is { } wildcard)
        {
            throw AmqpErrors.WildcardTopic(wildcard.Name, Endpoint);
        }

        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("An AMQP listener can be started once.");
        }

        _dispatcher = dispatcher;
        var factory = _address.CreateFactory(_options, _context.ConnectTimeout, $"ipc server of {Endpoint} ({dispatcher.ServiceName})");
        try
        {
            _connection = await factory.CreateConnectionAsync(_address.Resolver, $"ipc server of {Endpoint}", cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw AmqpErrors.ConnectFailed(ex, _address, Endpoint);
        }

        _connection.ConnectionShutdownAsync += (_, e) =>
        {
            if (Volatile.Read(ref _state) == 1)
            {
                Log.ConnectionLost(_logger, Endpoint, e.ReplyText);
            }

            return Task.CompletedTask;
        };
        _connection.RecoverySucceededAsync += (_, _) =>
        {
            Log.ConnectionRecovered(_logger, Endpoint);
            return Task.CompletedTask;
        };

        _control = await _connection.CreateChannelAsync(new CreateChannelOptions(true, true), cancellationToken).ConfigureAwait(false);
        _requests = await _connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        _messages = await _connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        _replies = await _connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await _requests.BasicQosAsync(0, (ushort)_options.Prefetch, global: false, cancellationToken).ConfigureAwait(false);
        await _messages.BasicQosAsync(0, (ushort)_options.Prefetch, global: false, cancellationToken).ConfigureAwait(false);
        _requestAcks = new AmqpAcknowledgements(_requests);
        _messageAcks = new AmqpAcknowledgements(_messages);

        var name = _address.Name;
        var routes = dispatcher.Routes;
        foreach (var stream in routes.Where(r => r.Kind == IpcRouteKind.Stream))
        {
            Log.StreamRouteIgnored(_logger, Endpoint, stream.Name);
        }

        if (routes.Any(r => r.Kind == IpcRouteKind.Request))
        {
            var queue = AmqpTopology.RequestQueue(name);
            await DeclareAsync(queue, durable: false, AmqpTopology.RequestQueueArguments(_options), cancellationToken).ConfigureAwait(false);
            await ConsumeAsync(_requests, queue, OnRequestAsync, cancellationToken).ConfigureAwait(false);
        }

        foreach (var route in routes.Where(r => r.Kind == IpcRouteKind.OneWay))
        {
            var queue = AmqpTopology.SendQueue(name, route.Name);
            await DeclareMessageQueueAsync(queue, cancellationToken).ConfigureAwait(false);
            await ConsumeAsync(_messages, queue, (_, e) => OnMessageAsync(queue, e), cancellationToken).ConfigureAwait(false);
        }

        var topics = routes.Where(r => r.Kind == IpcRouteKind.Subscription).Select(r => r.Name).ToList();
        if (topics.Count > 0)
        {
            var exchange = AmqpTopology.PublishExchange(name);
            var queue = AmqpTopology.SubscriberQueue(name, dispatcher.ServiceName);
            try
            {
                await _control.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: _options.Durable, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (OperationInterruptedException ex)
            {
                throw AmqpErrors.DeclareFailed(ex, exchange, Endpoint);
            }

            await DeclareMessageQueueAsync(queue, cancellationToken).ConfigureAwait(false);
            foreach (var topic in topics)
            {
                await _control.QueueBindAsync(queue, exchange, topic, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            await ConsumeAsync(_messages, queue, (_, e) => OnMessageAsync(queue, e), cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        foreach (var (channel, tag) in _consumers)
        {
            try
            {
                await channel.BasicCancelAsync(tag, noWait: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex) || ex is OperationCanceledException)
            {
                // The channel is gone: nothing more is delivered on it.
            }
        }

        // Running handlers see their token cancelled: callers of requests are answered Unavailable, one-way messages
        // stay unacknowledged and go back to the queue when the channel closes.
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _running) == 0)
            {
                _idle.TrySetResult();
            }

            await _idle.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // A handler that ignores its token is left behind; its message is delivered again.
        }

        await CloseAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        await CloseAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _repliesLock.Dispose();
    }

    private async ValueTask CloseAsync()
    {
        foreach (var channel in new[] { _requests, _messages, _replies, _control })
        {
            if (channel is not null)
            {
                try
                {
                    await channel.CloseAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
                {
                    // Closed already.
                }

                channel.Dispose();
            }
        }

        if (_connection is { } connection)
        {
            try
            {
                await connection.CloseAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
            {
                // Closed already.
            }

            connection.Dispose();
        }

        _requests = _messages = _replies = _control = null;
        _requestAcks = _messageAcks = null;
        _connection = null;
    }

    private async Task DeclareMessageQueueAsync(string queue, CancellationToken cancellationToken)
    {
        var arguments = AmqpTopology.MessageQueueArguments(_options);
        await DeclareAsync(queue, _options.Durable, arguments, cancellationToken).ConfigureAwait(false);
        var deadLetters = AmqpTopology.DeadLetterQueue(queue);
        try
        {
            await DeclareDeadLetterQueueAsync(deadLetters, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException ex)
        {
            throw AmqpErrors.DeclareFailed(ex, deadLetters, Endpoint);
        }
    }

    /// <summary>
    /// Declares a dead-letter queue again while serving, on a channel of its own: a refused declaration (a queue of that
    /// name with other arguments) closes its channel, which must not be the one messages are requeued on.
    /// </summary>
    /// <remarks>
    /// Earlier versions declared it with the <see cref="AmqpTransportOptions.QueueExpiry"/> of the other queues; one that
    /// still has it is used as it is (the other declaration would be refused), with a warning, until someone deletes it.
    /// </remarks>
    private async Task DeclareDeadLetterQueueAsync(string queue, CancellationToken cancellationToken = default)
    {
        try
        {
            await DeclareOnOwnChannelAsync(queue, AmqpTopology.DeadLetterQueueArguments(_options), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 406 && _options.QueueExpiry is not null)
        {
            if (!await TryDeclareOnOwnChannelAsync(queue, AmqpTopology.MessageQueueArguments(_options), cancellationToken).ConfigureAwait(false))
            {
                throw;
            }

            Log.DeadLetterQueueExpires(_logger, queue, Endpoint);
        }
    }

    private async Task DeclareOnOwnChannelAsync(string queue, Dictionary<string, object?> arguments, CancellationToken cancellationToken)
    {
        var channel = await _connection!.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (channel.ConfigureAwait(false))
        {
            await channel.QueueDeclareAsync(queue, _options.Durable, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> TryDeclareOnOwnChannelAsync(string queue, Dictionary<string, object?> arguments, CancellationToken cancellationToken)
    {
        try
        {
            await DeclareOnOwnChannelAsync(queue, arguments, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 406)
        {
            return false;
        }
    }

    private async Task DeclareAsync(string queue, bool durable, Dictionary<string, object?> arguments, CancellationToken cancellationToken)
    {
        try
        {
            await _control!.QueueDeclareAsync(queue, durable, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException ex)
        {
            throw AmqpErrors.DeclareFailed(ex, queue, Endpoint);
        }
    }

    private async Task ConsumeAsync(AmqpChannel channel, string queue, AsyncEventHandler<BasicDeliverEventArgs> onReceived, CancellationToken cancellationToken)
    {
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += onReceived;
        var tag = await channel.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken).ConfigureAwait(false);
        _consumers.Add((channel, tag));
    }

    private Task OnRequestAsync(object sender, BasicDeliverEventArgs e)
    {
        var request = AmqpMessages.FromDelivery(e.BasicProperties, e.Body, fallbackRoute: string.Empty, isRequest: true, Now());
        request.RemoteAddress = Publisher(e.BasicProperties);
        var replyTo = e.BasicProperties.ReplyTo;
        var callId = e.BasicProperties.CorrelationId;
        _requestAcks?.Delivered(e.DeliveryTag);
        Run(new Delivery(this, request, e.DeliveryTag, queue: null, replyTo, callId, deliveries: e.Redelivered ? 2 : 1, deadline: null));
        return Task.CompletedTask;
    }

    private Task OnMessageAsync(string queue, BasicDeliverEventArgs e)
    {
        var now = Now();
        var message = AmqpMessages.FromDelivery(e.BasicProperties, e.Body, fallbackRoute: string.Empty, isRequest: false, now);
        message.RemoteAddress = Publisher(e.BasicProperties);
        var headers = e.BasicProperties.Headers;
        var deliveries = AmqpMessages.Deliveries(headers);
        _messageAcks?.Delivered(e.DeliveryTag);
        long? deadline = message.Timeout is { } timeout ? now + (long)timeout.TotalMilliseconds : null;
        Run(new Delivery(this, message, e.DeliveryTag, queue, replyTo: null, callId: null, deliveries, deadline));
        return Task.CompletedTask;
    }

    /// <summary>This server's time in milliseconds since the Unix epoch, to count a message's time left from its deadline.</summary>
    private long Now() => _context.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Who published a delivery, as far as the broker tells: the <c>app_id</c> the publisher set, if any (Ipc clients set
    /// none). A broker hides the peer's address; the property is the publisher's word, not checked.
    /// </summary>
    private static string? Publisher(IReadOnlyBasicProperties properties) => properties.AppId is { Length: > 0 } appId ? appId : null;

    /// <summary>
    /// Runs a delivery's handler on the thread pool, so the channel's consumer goes on to the next delivery; the prefetch
    /// bounds how many run at once. Stopping waits for the handlers that are running.
    /// </summary>
    private void Run(Delivery delivery)
    {
        Interlocked.Increment(ref _running);
        ThreadPool.UnsafeQueueUserWorkItem(delivery, preferLocal: true);
    }

    private void Finished(Task handler)
    {
        if (handler.IsFaulted)
        {
            var error = handler.Exception.InnerException ?? handler.Exception;
            Log.HandlingFailed(_logger, Endpoint, error.Message, error);
        }

        if (Interlocked.Decrement(ref _running) == 0 && Volatile.Read(ref _state) == 2)
        {
            _idle.TrySetResult();
        }
    }

    /// <summary>A delivery on its way to its handler: one work item, with no closure, delegate or task around it.</summary>
    private sealed class Delivery(AmqpListener listener, IpcMessage message, ulong tag, string? queue, string? replyTo, string? callId, long deliveries, long? deadline) : IThreadPoolWorkItem
    {
        // The consumer's execution context, flowed as Task.Run flows it: RabbitMQ.Client's delivery span, when something
        // listens to it, stays the parent of the server's span (null only when the consumer suppressed the flow).
        private readonly ExecutionContext? _context = ExecutionContext.Capture();

        public void Execute()
        {
            if (_context is null)
            {
                Start();
            }
            else
            {
                ExecutionContext.Run(_context, static delivery => ((Delivery)delivery!).Start(), this);
            }
        }

        private void Start()
        {
            var handler = queue is null
                ? listener.HandleRequestAsync(message, replyTo, callId, tag, redelivered: deliveries > 1)
                : listener.HandleMessageAsync(queue, message, deliveries, tag, deadline);
            if (handler.IsCompleted)
            {
                listener.Finished(handler);
                return;
            }

            handler.ContinueWith(static (task, state) => ((AmqpListener)state!).Finished(task), listener, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task HandleRequestAsync(IpcMessage request, string? replyTo, string? callId, ulong tag, bool redelivered)
    {
        var token = _stopping.Token;
        IpcMessage response;
        if (request.Body.Length > _context.MaxMessageSize)
        {
            response = IpcMessage.CreateFault(request, new IpcFault(
                IpcErrorCode.MessageTooLarge,
                $"The request for route '{request.Route}' is {request.Body.Length} bytes, over the server's {_context.MaxMessageSize}-byte MaxMessageSize of endpoint '{Endpoint}'."));
        }
        else if (request.Route.Length == 0)
        {
            response = IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.ProtocolError, "The request has no route: set the AMQP 'type' property to the route's name."));
        }
        else if (redelivered)
        {
            // The broker delivers a request again when the server that took it stopped or lost its connection before
            // acknowledging it: its handler may have run. Requests are at most once, so it is answered, not run again.
            response = IpcMessage.CreateFault(request, new IpcFault(
                IpcErrorCode.Unavailable,
                $"The request for route '{request.Route}' came to a server of endpoint '{Endpoint}' a second time: the server that took it first stopped or lost its connection before answering. It may have been handled, so it was not run again."));
        }
        else
        {
            try
            {
                response = await _dispatcher!.DispatchRequestAsync(request, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                response = IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.Unavailable, $"The server of endpoint '{Endpoint}' stopped before the call completed."));
            }
        }

        var acks = _requestAcks;
        if (acks is null)
        {
            return;
        }

        if (!string.IsNullOrEmpty(replyTo))
        {
            try
            {
                await ReplyAsync(replyTo, response, callId, request.CorrelationId).ConfigureAwait(false);
            }
            catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
            {
                Log.ReplyFailed(_logger, request.MessageId, request.Route, Endpoint, ex.Message);
            }
            catch (Exception ex)
            {
                // The response does not fit AMQP (a header name over 255 bytes): the caller is told so instead of waiting
                // for its timeout, and the request is acknowledged all the same, so it does not hold a prefetch slot.
                Log.ReplyFailed(_logger, request.MessageId, request.Route, Endpoint, ex.Message);
                var fault = IpcMessage.CreateFault(request, new IpcFault(
                    IpcErrorCode.ProtocolError,
                    $"The response to the request for route '{request.Route}' of endpoint '{Endpoint}' cannot be sent over AMQP: {ex.Message}"));
                try
                {
                    await ReplyAsync(replyTo, fault, callId, request.CorrelationId).ConfigureAwait(false);
                }
                catch (Exception again) when (AmqpErrors.IsConnectionFailure(again))
                {
                    Log.ReplyFailed(_logger, request.MessageId, request.Route, Endpoint, again.Message);
                }
            }
        }

        await acks.SettleAsync(tag, ack: true).ConfigureAwait(false);
    }

    private async Task ReplyAsync(string replyTo, IpcMessage response, string? callId, string? requestCorrelationId)
    {
        var properties = AmqpMessages.ToReplyProperties(response, callId, requestCorrelationId);
        var replies = await RepliesAsync().ConfigureAwait(false);
        await replies.BasicPublishAsync(string.Empty, replyTo, mandatory: false, properties, response.Body).ConfigureAwait(false);
    }

    /// <param name="queue">The queue the message came from.</param>
    /// <param name="message">The message.</param>
    /// <param name="deliveries">Its deliveries so far, this one included.</param>
    /// <param name="tag">The delivery tag.</param>
    /// <param name="deadline">Its deadline by this server's clock (milliseconds since the Unix epoch), when it has one: a message published again keeps it.</param>
    private async Task HandleMessageAsync(string queue, IpcMessage message, long deliveries, ulong tag, long? deadline)
    {
        var token = _stopping.Token;
        IpcOneWayOutcome outcome = default;
        var stopped = false;
        if (deliveries > _options.MaxDeliveries)
        {
            // Delivered MaxDeliveries times already, the last of them taken back by the broker unfinished (a failure
            // at MaxDeliveries goes to the dead-letter queue): its server's process ended or its connection broke while
            // the handler ran. A message that ends the process that runs it would do so for ever: it is not run again.
            outcome = IpcOneWayOutcome.Failure(new IpcFault(
                IpcErrorCode.Unavailable,
                $"The message was delivered {deliveries - 1} times already (MaxDeliveries {_options.MaxDeliveries}), and the broker took it back unfinished: its server's process ended or its connection broke while the handler ran. It is not run again."));
        }
        else if (message.Body.Length > _context.MaxMessageSize)
        {
            outcome = IpcOneWayOutcome.Failure(new IpcFault(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the server's {_context.MaxMessageSize}-byte MaxMessageSize of endpoint '{Endpoint}'."));
        }
        else if (message.Route.Length == 0)
        {
            outcome = IpcOneWayOutcome.Failure(new IpcFault(IpcErrorCode.ProtocolError, "The message has no route: set the AMQP 'type' property to the route's (or topic's) name."));
        }
        else
        {
            try
            {
                outcome = await _dispatcher!.DispatchOneWayAsync(message, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // The server stops, and the handler gave up: the message goes back to its queue, published again below
                // with the deliveries it had before this one, as this one did not fail. Left unacknowledged, it would come
                // back all the same once the channel closed, but a quorum queue counts such a return (x-delivery-count),
                // so a few restarts would use up MaxDeliveries.
                stopped = true;
            }
        }

        var acks = _messageAcks;
        if (acks is null)
        {
            return;
        }

        IpcFault? fault = null;
        if (!stopped)
        {
            if (outcome.Fault is not { } failed)
            {
                await acks.SettleAsync(tag, ack: true).ConfigureAwait(false);
                return;
            }

            if (failed.ErrorCode == IpcErrorCode.Timeout)
            {
                Log.Expired(_logger, message.MessageId, message.Route, Endpoint);
                await acks.SettleAsync(tag, ack: true).ConfigureAwait(false);
                return;
            }

            fault = failed;
        }

        var hopeless = fault?.ErrorCode is IpcErrorCode.NoHandler or IpcErrorCode.Serialization or IpcErrorCode.MessageTooLarge or IpcErrorCode.ProtocolError;
        var deadLetter = fault is not null && (hopeless || deliveries >= _options.MaxDeliveries);
        if (!deadLetter && deadline is { } due)
        {
            message.Timeout = TimeSpan.FromMilliseconds(Math.Max(due - Now(), 1)); // the time it has left now, not when it came
        }

        // A dead letter carries no deadline: it stays until someone looks at it, and moved back it is run whenever it comes.
        var properties = AmqpMessages.ToProperties(message, callId: null, persistent: _options.Durable, deadLetter ? null : deadline);
        properties.AppId = message.RemoteAddress; // the publisher's app_id, read as RemoteAddress: the next delivery and the dead letter keep it
        var headers = properties.Headers ??= new Dictionary<string, object?>(StringComparer.Ordinal);
        headers[AmqpMessages.DeliveriesHeader] = stopped ? deliveries - 1 : deliveries;
        string target;
        if (deadLetter)
        {
            target = AmqpTopology.DeadLetterQueue(queue);
            headers[AmqpMessages.ErrorHeader] = Encoding.UTF8.GetBytes(fault!.ErrorCode.ToString());
            headers[AmqpMessages.ErrorMessageHeader] = Encoding.UTF8.GetBytes(fault.Message);
            headers[AmqpMessages.OriginalQueueHeader] = Encoding.UTF8.GetBytes(queue);
            properties.Expiration = null; // a dead letter stays until someone looks at it
        }
        else
        {
            target = queue;
        }

        try
        {
            // Published with a confirm before the original is acknowledged: the message is never in neither place.
            // Mandatory: a queue someone deleted returns the message, which then stays where it is.
            try
            {
                await _control!.BasicPublishAsync(string.Empty, target, mandatory: true, properties, message.Body).ConfigureAwait(false);
            }
            catch (PublishReturnException) when (deadLetter)
            {
                // The dead-letter queue was deleted (once someone dealt with its messages): declared again, as at start,
                // rather than requeueing a message that would fail and come back here forever.
                await DeclareDeadLetterQueueAsync(target).ConfigureAwait(false);
                await _control!.BasicPublishAsync(string.Empty, target, mandatory: true, properties, message.Body).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
        {
            Log.SettleFailed(_logger, message.MessageId, message.Route, Endpoint, ex.Message);
            await acks.SettleAsync(tag, ack: false).ConfigureAwait(false);
            return;
        }

        if (deadLetter)
        {
            Log.DeadLettered(_logger, message.MessageId, message.Route, Endpoint, target, deliveries, fault!.ErrorCode, fault.Message);
        }
        else if (fault is not null)
        {
            Log.Redelivering(_logger, message.MessageId, message.Route, Endpoint, deliveries, _options.MaxDeliveries, fault.ErrorCode);
        }

        await acks.SettleAsync(tag, ack: true).ConfigureAwait(false);
    }

    /// <summary>
    /// The channel replies go out on, apart from the one requests arrive on: a caller's bad <c>reply_to</c> that makes the
    /// broker close it costs that reply, and the channel is opened again for the next one.
    /// </summary>
    private async ValueTask<AmqpChannel> RepliesAsync()
    {
        if (_replies is { IsOpen: true } open)
        {
            return open;
        }

        await _repliesLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_replies is { IsOpen: false } closed && _connection is { IsOpen: true } connection && Volatile.Read(ref _state) == 1)
            {
                closed.Dispose();
                _replies = await connection.CreateChannelAsync().ConfigureAwait(false);
            }

            return _replies ?? throw new ObjectDisposedException(nameof(AmqpListener));
        }
        finally
        {
            _repliesLock.Release();
        }
    }
}
