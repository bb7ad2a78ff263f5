using System.Collections.Concurrent;
using System.Globalization;
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
/// The client of an AMQP endpoint: one connection (opened on the first call, recovered by itself), a channel for requests
/// and their replies over direct reply-to, and a channel with publisher confirms for one-way and published messages.
/// </summary>
/// <remarks>
/// Requests are published mandatory to the endpoint's request queue; the broker returns one nobody has declared a queue
/// for, which fails with NoHandler at once. When the connection is lost, every request waiting for its reply fails with
/// Unavailable at once, and a send whose confirm had not come is reported not accepted, so it can be sent again.
/// </remarks>
internal sealed class AmqpClient : IIpcTransportClient
{
    private readonly IpcTransportContext _context;
    private readonly AmqpTransportOptions _options;
    private readonly AmqpAddress _address;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly ConcurrentDictionary<string, PendingCall> _pending = new(StringComparer.Ordinal);
    private readonly string _callPrefix = Guid.NewGuid().ToString("N")[..12] + "-";
    private long _callSequence;
    private IConnection? _connection;
    private AmqpChannel? _requests;
    private AmqpChannel? _sends;
    private bool _exchangeDeclared;
    private int _disposed;

    public AmqpClient(IpcTransportContext context, AmqpTransportOptions options)
    {
        _context = context;
        _options = options;
        _address = AmqpAddress.Resolve(context.Address, context.EndpointName, options);
        _logger = (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Amqp");
    }

    private string Endpoint => _context.EndpointName;

    public async ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfDisposed();
        Check(request);
        if (request.Timeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            // An expiration of 0 would have the broker drop it unless a consumer took it that instant: it is not sent.
            return IpcMessage.CreateFault(request, new IpcFault(IpcErrorCode.Timeout, $"The request for route '{request.Route}' had no time left; it was not sent."));
        }

        var channel = await RequestChannelAsync(cancellationToken).ConfigureAwait(false);
        // The call id (the AMQP correlation_id, which the reply carries back) is new for every attempt, never the message
        // id: a caller's message ids can repeat (a retry keeps its id), and the late reply of an attempt that timed out
        // must match no other call. A reply whose call id is no longer waiting is dropped.
        var call = new PendingCall(request.Route, request.CorrelationId);
        var callId = _callPrefix + Interlocked.Increment(ref _callSequence).ToString(CultureInfo.InvariantCulture);
        _pending[callId] = call;

        using var registration = cancellationToken.UnsafeRegister(
            static (state, token) =>
            {
                var (pending, id) = ((ConcurrentDictionary<string, PendingCall>, string))state!;
                if (pending.TryRemove(id, out var cancelled))
                {
                    cancelled.Completion.TrySetCanceled(token);
                }
            },
            (_pending, callId));
        var sent = false;
        try
        {
            var properties = AmqpMessages.ToProperties(request, callId, persistent: false, DeadlineOf(request));
            await channel.BasicPublishAsync(string.Empty, AmqpTopology.RequestQueue(_address.Name), mandatory: true, properties, request.Body, cancellationToken).ConfigureAwait(false);
            sent = true;
        }
        catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
        {
            throw AmqpErrors.NotConfirmed(ex, $"the request for route '{request.Route}'", Endpoint);
        }
        finally
        {
            if (!sent)
            {
                _pending.TryRemove(callId, out _); // no reply will come for it, whatever failed
            }
        }

        return await call.Completion.Task.ConfigureAwait(false);
    }

    public async ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ThrowIfDisposed();
        Check(message);
        var channel = await SendChannelAsync(cancellationToken).ConfigureAwait(false);
        var queue = AmqpTopology.SendQueue(_address.Name, message.Route);
        var properties = AmqpMessages.ToProperties(message, callId: null, persistent: _options.Durable, DeadlineOf(message));
        try
        {
            await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, properties, message.Body, cancellationToken).ConfigureAwait(false);
        }
        catch (PublishReturnException ex)
        {
            throw new IpcException(
                IpcErrorCode.NoHandler,
                $"No server of endpoint '{Endpoint}' takes one-way messages for route '{message.Route}': the broker has no queue '{queue}'. Start a server that maps the route (MapMessage) once; its queue then keeps messages while it is stopped.",
                ex)
            { Endpoint = Endpoint, NotAccepted = true };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
        {
            throw AmqpErrors.NotConfirmed(ex, $"the one-way message for route '{message.Route}'", Endpoint);
        }
    }

    public async ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ThrowIfDisposed();
        Check(message);
        var channel = await SendChannelAsync(cancellationToken).ConfigureAwait(false);
        var exchange = AmqpTopology.PublishExchange(_address.Name);
        if (!Volatile.Read(ref _exchangeDeclared))
        {
            try
            {
                // Declared (not assumed), as publishing to a missing exchange closes the channel; subscribers bind to it.
                await channel.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: _options.Durable, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _exchangeDeclared, true);
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == 406)
            {
                throw AmqpErrors.DeclareFailed(ex, exchange, Endpoint);
            }
            catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
            {
                throw AmqpErrors.NotConfirmed(ex, $"the message published to topic '{message.Route}'", Endpoint);
            }
        }

        var properties = AmqpMessages.ToProperties(message, callId: null, persistent: _options.Durable, DeadlineOf(message));
        try
        {
            await channel.BasicPublishAsync(exchange, message.Route, mandatory: false, properties, message.Body, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
        {
            throw AmqpErrors.NotConfirmed(ex, $"the message published to topic '{message.Route}'", Endpoint);
        }
    }

    public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken) =>
        throw new IpcException(IpcErrorCode.NotSupported, $"Endpoint '{Endpoint}' is on AMQP, which has no server streams: use requests, one-way messages or publish/subscribe, or a stream transport (tcp://, unix://, pipe://).") { Endpoint = Endpoint, NotAccepted = true };

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        FailPending(() => new ObjectDisposedException(nameof(AmqpClient)));
        await _connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await CloseAsync().ConfigureAwait(false);
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private async ValueTask CloseAsync()
    {
        foreach (var channel in new[] { _requests, _sends })
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

        _requests = _sends = null;
        _connection = null;
    }

    private ValueTask<AmqpChannel> RequestChannelAsync(CancellationToken cancellationToken) =>
        _requests is { IsOpen: true } channel ? new(channel) : OpenChannelsAsync(requests: true, cancellationToken);

    private ValueTask<AmqpChannel> SendChannelAsync(CancellationToken cancellationToken) =>
        _sends is { IsOpen: true } channel ? new(channel) : OpenChannelsAsync(requests: false, cancellationToken);

    /// <summary>
    /// Connects on first use, and opens a channel again after the broker closed it for an error. A channel closed because
    /// the connection was lost is recovered by the client library, not replaced: the call fails with Unavailable meanwhile.
    /// </summary>
    private async ValueTask<AmqpChannel> OpenChannelsAsync(bool requests, CancellationToken cancellationToken)
    {
        await _connectLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfDisposed();
            if (_connection is null)
            {
                var factory = _address.CreateFactory(_options, _context.ConnectTimeout, $"ipc client of {Endpoint}");
                try
                {
                    _connection = await factory.CreateConnectionAsync(_address.Resolver, $"ipc client of {Endpoint}", cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    throw AmqpErrors.ConnectFailed(ex, _address, Endpoint);
                }

                _connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
                _connection.RecoverySucceededAsync += OnRecoveredAsync;
            }

            if (!_connection.IsOpen)
            {
                throw new IpcException(IpcErrorCode.Unavailable, $"The connection of endpoint '{Endpoint}' to the broker at {_address} is lost; it is being recovered.") { Endpoint = Endpoint, NotAccepted = true };
            }

            try
            {
                if (requests)
                {
                    if (_requests is not { IsOpen: true })
                    {
                        _requests?.Dispose();
                        var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
                        channel.BasicReturnAsync += OnReturnAsync;
                        channel.ChannelShutdownAsync += OnRequestChannelShutdownAsync;
                        var consumer = new AsyncEventingBasicConsumer(channel);
                        consumer.ReceivedAsync += OnReplyAsync;
                        await channel.BasicConsumeAsync(AmqpTopology.DirectReplyTo, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
                        _requests = channel;
                    }

                    return _requests;
                }

                if (_sends is not { IsOpen: true })
                {
                    _sends?.Dispose();
                    var confirms = _options.PublisherConfirms;
                    var channel = await _connection.CreateChannelAsync(new CreateChannelOptions(confirms, confirms), cancellationToken).ConfigureAwait(false);
                    if (!confirms)
                    {
                        channel.BasicReturnAsync += (_, e) =>
                        {
                            Log.Returned(_logger, Endpoint, e.RoutingKey, e.ReplyText);
                            return Task.CompletedTask;
                        };
                    }

                    _sends = channel;
                    _exchangeDeclared = false;
                }

                return _sends;
            }
            catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
            {
                throw AmqpErrors.NotConfirmed(ex, "the call", Endpoint);
            }
        }
        finally
        {
            _connectLock.Release();
        }
    }

    private Task OnReplyAsync(object sender, BasicDeliverEventArgs e)
    {
        if (e.BasicProperties.CorrelationId is { } callId && _pending.TryRemove(callId, out var call))
        {
            if (e.Body.Length > _context.MaxMessageSize)
            {
                call.Completion.TrySetException(new IpcException(
                    IpcErrorCode.MessageTooLarge,
                    $"The response for route '{call.Route}' is {e.Body.Length} bytes, over the client's {_context.MaxMessageSize}-byte MaxMessageSize of endpoint '{Endpoint}'.")
                { Endpoint = Endpoint });
            }
            else
            {
                call.Completion.TrySetResult(AmqpMessages.FromReply(e.BasicProperties, e.Body, call.Route, call.CorrelationId));
            }
        }

        return Task.CompletedTask;
    }

    private Task OnReturnAsync(object sender, BasicReturnEventArgs e)
    {
        if (e.BasicProperties.CorrelationId is { } callId && _pending.TryRemove(callId, out var call))
        {
            call.Completion.TrySetException(new IpcException(
                IpcErrorCode.NoHandler,
                $"No server of endpoint '{Endpoint}' takes requests (route '{call.Route}'): the broker has no queue '{e.RoutingKey}' ({e.ReplyText}). Start a server that maps the route first.")
            { Endpoint = Endpoint, NotAccepted = true });
        }

        return Task.CompletedTask;
    }

    private Task OnConnectionShutdownAsync(object sender, ShutdownEventArgs e)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            Log.ConnectionLost(_logger, Endpoint, e.ReplyText);
        }

        FailPending(() => Lost(e.ReplyText));
        return Task.CompletedTask;
    }

    private Task OnRequestChannelShutdownAsync(object sender, ShutdownEventArgs e)
    {
        FailPending(() => Lost(e.ReplyText)); // replies go to that channel: they can no longer arrive
        return Task.CompletedTask;
    }

    private Task OnRecoveredAsync(object sender, AsyncEventArgs e)
    {
        Log.ConnectionRecovered(_logger, Endpoint);
        return Task.CompletedTask;
    }

    private IpcException Lost(string reason) =>
        new(IpcErrorCode.Unavailable, $"The connection of endpoint '{Endpoint}' to the broker at {_address} was lost before the response came ({reason}).") { Endpoint = Endpoint };

    private void FailPending(Func<Exception> failure)
    {
        foreach (var callId in _pending.Keys)
        {
            if (_pending.TryRemove(callId, out var call))
            {
                call.Completion.TrySetException(failure());
            }
        }
    }

    /// <summary>Refuses, unsent, a message over MaxMessageSize or one AMQP cannot carry.</summary>
    private void Check(IpcMessage message)
    {
        if (message.Body.Length > _context.MaxMessageSize)
        {
            throw new IpcException(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the {_context.MaxMessageSize}-byte MaxMessageSize of endpoint '{Endpoint}'.")
            { Endpoint = Endpoint, NotAccepted = true };
        }

        if (AmqpMessages.WhyNotCarried(message) is { } why)
        {
            throw new IpcException(
                IpcErrorCode.ProtocolError,
                $"The message for route '{(message.Route.Length > 40 ? message.Route[..40] + "..." : message.Route)}' cannot go over AMQP (endpoint '{Endpoint}'): {why}, and AMQP carries at most 255 bytes there. Shorten it; it was not sent.")
            { Endpoint = Endpoint, NotAccepted = true };
        }
    }

    /// <summary>
    /// The deadline a message with a timeout carries beside its <c>expiration</c>, by this client's clock: the broker does
    /// not count the expiration down, so the server learns from it how long the message waited in its queue.
    /// </summary>
    private long? DeadlineOf(IpcMessage message) =>
        message.Timeout is { } timeout ? AmqpMessages.Deadline(_context.TimeProvider.GetUtcNow(), timeout) : null;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private sealed class PendingCall(string route, string? correlationId)
    {
        public string Route { get; } = route;

        public string? CorrelationId { get; } = correlationId;

        public TaskCompletionSource<IpcMessage> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
