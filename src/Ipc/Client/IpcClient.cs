using System.Diagnostics;
using System.Runtime.CompilerServices;
using Ipc.Diagnostics;
using Ipc.Serialization;
using Ipc.Server;
using Ipc.Transports;

namespace Ipc.Client;

/// <summary>The runtime's client of one endpoint: serializes, stamps ids and trace context, applies the timeout and maps failures.</summary>
internal sealed class IpcClient : IRequestClient, IChannel, IAsyncDisposable, IDisposable
{
    private readonly EndpointRuntime _endpoint;
    private readonly IIpcTransportClient _transport;
    private readonly TimeProvider _time;
    private int _disposed;

    public IpcClient(EndpointRuntime endpoint)
    {
        _endpoint = endpoint;
        _time = endpoint.TransportContext.TimeProvider;
        _transport = endpoint.Transport.CreateClient(endpoint.TransportContext);
    }

    public string EndpointName => _endpoint.Name;

    public TransportCapabilities Capabilities => _endpoint.Capabilities;

    public async ValueTask<TResponse> RequestAsync<TRequest, TResponse>(string route, TRequest request, IpcCallOptions? options = null, CancellationToken cancellationToken = default)
    {
        var message = CreateMessage(route, request, options);
        var response = await InvokeAsync(message, options?.Timeout, cancellationToken).ConfigureAwait(false);
        return BodyCodec.Decode<TResponse>(_endpoint.Serializer, response, "response");
    }

    public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        StampCorrelation(request, null);
        return InvokeAsync(request, null, cancellationToken);
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
        StampCorrelation(request, null);
        return StreamCoreAsync(request, cancellationToken);
    }

    public ValueTask SendAsync<TMessage>(string route, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        SendCoreAsync(CreateMessage(route, message, options), options?.Timeout, publish: false, cancellationToken);

    public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        StampCorrelation(message, null);
        return SendCoreAsync(message, null, publish: false, cancellationToken);
    }

    public ValueTask PublishAsync<TMessage>(string topic, TMessage message, IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        SendCoreAsync(CreateMessage(topic, message, options), options?.Timeout, publish: true, cancellationToken);

    public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        StampCorrelation(message, null);
        return SendCoreAsync(message, null, publish: true, cancellationToken);
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
                $"{call} needs {capability}, which the {_endpoint.Transport.Name} transport of endpoint '{_endpoint.Name}' ({_endpoint.Address}) does not support. Choose a transport that does, or set RequiredCapabilities to catch this at start.")
            { Endpoint = _endpoint.Name };
        }
    }

    private void CheckSize(IpcMessage message)
    {
        if (message.Body.Length > _endpoint.Options.MaxMessageSize)
        {
            throw new IpcException(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the {_endpoint.Options.MaxMessageSize}-byte MaxMessageSize of endpoint '{_endpoint.Name}'. Send less, or raise MaxMessageSize on both sides.")
            { Endpoint = _endpoint.Name };
        }
    }

    private async ValueTask<IpcMessage> InvokeAsync(IpcMessage message, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        Require(TransportCapabilities.RequestResponse, "RequestAsync");
        CheckSize(message);
        cancellationToken.ThrowIfCancellationRequested();
        var started = Stopwatch.GetTimestamp();
        using var activity = IpcDiagnostics.StartClient(_endpoint.Name, message, "request");
        var effective = timeout ?? _endpoint.Options.RequestTimeout;
        using var timeoutCts = CreateTimeout(effective, cancellationToken, out var token);
        IpcMessage response;
        try
        {
            var pending = _transport.RequestAsync(message, token);
            if (!pending.IsCompleted)
            {
                ArmTimeout(timeoutCts, effective); // a call that completes synchronously never needs the timer
            }

            response = await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var mapped = Translate(ex, timeoutCts, effective, cancellationToken, activity);
            if (ReferenceEquals(mapped, ex))
            {
                throw;
            }

            throw mapped;
        }
        finally
        {
            IpcDiagnostics.ClientDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("rpc.service", _endpoint.Name));
        }

        if (response.Fault is { } fault)
        {
            activity?.SetStatus(ActivityStatusCode.Error, fault.ErrorCode.ToString());
            throw fault.ToException(_endpoint.Name);
        }

        return response;
    }

    private async ValueTask SendCoreAsync(IpcMessage message, TimeSpan? timeout, bool publish, CancellationToken cancellationToken)
    {
        Require(publish ? TransportCapabilities.PublishSubscribe : TransportCapabilities.OneWay, publish ? "PublishAsync" : "SendAsync");
        CheckSize(message);
        cancellationToken.ThrowIfCancellationRequested();
        using var activity = IpcDiagnostics.StartClient(_endpoint.Name, message, publish ? "publish" : "send");
        var effective = timeout ?? _endpoint.Options.RequestTimeout;
        using var timeoutCts = CreateTimeout(effective, cancellationToken, out var token);
        try
        {
            var pending = publish ? _transport.PublishAsync(message, token) : _transport.SendAsync(message, token);
            if (!pending.IsCompleted)
            {
                ArmTimeout(timeoutCts, effective);
            }

            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var mapped = Translate(ex, timeoutCts, effective, cancellationToken, activity);
            if (ReferenceEquals(mapped, ex))
            {
                throw;
            }

            throw mapped;
        }
    }

    private async IAsyncEnumerable<IpcMessage> StreamCoreAsync(IpcMessage message, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Require(TransportCapabilities.Streaming, "StreamAsync");
        CheckSize(message);
        cancellationToken.ThrowIfCancellationRequested();
        using var activity = IpcDiagnostics.StartClient(_endpoint.Name, message, "stream");
        var enumerator = _transport.StreamAsync(message, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                IpcMessage item;
                try
                {
                    if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }

                    item = enumerator.Current;
                }
                catch (Exception ex)
                {
                    var mapped = Translate(ex, null, Timeout.InfiniteTimeSpan, cancellationToken, activity);
                    if (ReferenceEquals(mapped, ex))
                    {
                        throw;
                    }

                    throw mapped;
                }

                if (item.Fault is { } fault)
                {
                    activity?.SetStatus(ActivityStatusCode.Error, fault.ErrorCode.ToString());
                    throw fault.ToException(_endpoint.Name);
                }

                yield return item;
            }
        }
        finally
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }

    private CancellationTokenSource? CreateTimeout(TimeSpan timeout, CancellationToken cancellationToken, out CancellationToken token)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            token = cancellationToken;
            return null;
        }

        var cts = cancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken)
            : new CancellationTokenSource();
        token = cts.Token;
        return cts;
    }

    private void ArmTimeout(CancellationTokenSource? cts, TimeSpan timeout)
    {
        if (cts is null)
        {
            return;
        }

        if (ReferenceEquals(_time, TimeProvider.System))
        {
            cts.CancelAfter(timeout);
        }
        else
        {
            var timer = _time.CreateTimer(static state => ((CancellationTokenSource)state!).Cancel(), cts, timeout, Timeout.InfiniteTimeSpan);
            cts.Token.Register(static t => ((ITimer)t!).Dispose(), timer);
        }
    }

    private Exception Translate(Exception ex, CancellationTokenSource? timeoutCts, TimeSpan timeout, CancellationToken cancellationToken, Activity? activity)
    {
        Exception result;
        if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            result = ex; // the caller cancelled: surface as OperationCanceledException
        }
        else if (ex is OperationCanceledException && timeoutCts is { IsCancellationRequested: true })
        {
            result = new IpcTimeoutException($"The call to endpoint '{_endpoint.Name}' did not complete within {timeout}. Raise RequestTimeout, or make the handler faster.", ex)
            {
                Endpoint = _endpoint.Name,
                Timeout = timeout,
            };
        }
        else if (ex is IpcException or IpcTimeoutException or ObjectDisposedException)
        {
            result = ex;
        }
        else
        {
            result = new IpcException(IpcErrorCode.Unknown, $"The {_endpoint.Transport.Name} transport of endpoint '{_endpoint.Name}' failed unexpectedly: {ex.Message}", ex)
            {
                Endpoint = _endpoint.Name,
            };
        }

        activity?.SetStatus(ActivityStatusCode.Error, result.GetType().Name);
        return result;
    }
}
