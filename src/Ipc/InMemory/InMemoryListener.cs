using Ipc.Diagnostics;
using System.Collections.Frozen;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.InMemory;

/// <summary>
/// An in-memory server. Requests run on the caller's flow; one-way and published messages go through a bounded queue read
/// by one loop, so they are handled in order and a fast sender waits for space instead of growing memory. It takes the
/// published messages of the topics its server subscribes to (its route table), as one instance of its service.
/// </summary>
internal sealed partial class InMemoryListener(IpcTransportContext context) : IIpcTransportListener
{
    private const int QueueCapacity = 1024;

    private readonly string _key = InMemoryTransport.Key(context.Address);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _drainEnded = new(); // once the stop's DrainTimeout or token ends: the one-way handler is cancelled, the rest reported
    private readonly IpcTransportTelemetry _telemetry = IpcTransportTelemetry.ForServer(context);
    private readonly ILogger _logger = (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.InMemory");
    private readonly Channel<IpcMessage> _queue = Channel.CreateBounded<IpcMessage>(new BoundedChannelOptions(QueueCapacity)
    {
        SingleReader = false, // the read loop, and a stop whose drain ended reports what is left while a handler may still run
        FullMode = BoundedChannelFullMode.Wait,
    });

    private IIpcDispatcher? _dispatcher;
    private FrozenSet<string> _topics = FrozenSet<string>.Empty;
    private Task? _reader;
    private int _state; // 0 new, 1 started, 2 stopped
    private int _publishTurn;

    /// <summary>Gets the service the server belongs to, as a subscriber.</summary>
    public string ServiceName { get; private set; } = string.Empty;

    /// <summary>Whether the server subscribes to <paramref name="topic"/>.</summary>
    public bool Subscribes(string topic) => _topics.Contains(topic);

    /// <summary>Takes the next turn among the instances of one service, when this listener is the first of them.</summary>
    public int NextPublishTurn() => Interlocked.Increment(ref _publishTurn) & int.MaxValue;

    public ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatcher);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("An in-memory listener can be started once.");
        }

        _dispatcher = dispatcher;
        ServiceName = dispatcher.ServiceName;
        _topics = dispatcher.Routes.Where(r => r.Kind == IpcRouteKind.Subscription).Select(r => r.Name).ToFrozenSet(StringComparer.Ordinal);
        _reader = Task.Run(ReadLoopAsync, CancellationToken.None);
        InMemoryHub.Add(_key, this);
        return default;
    }

    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
        {
            return;
        }

        InMemoryHub.Remove(_key, this);
        _queue.Writer.TryComplete(); // no message is accepted from here: a sender gets Unavailable, saying so
        await _stopping.CancelAsync().ConfigureAwait(false); // running request and stream handlers see their token cancelled; their callers get Unavailable

        // The one-way messages already accepted are handled for DrainTimeout at most, or until the caller's token ends it.
        using (var grace = new CancellationTokenSource(context.DrainTimeout, context.TimeProvider))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(grace.Token, cancellationToken))
        {
            try
            {
                await _reader!.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (linked.IsCancellationRequested)
            {
                // The drain is over: the handler running now has its token cancelled, and is not waited for.
            }
        }

        try
        {
            await _drainEnded.CancelAsync().ConfigureAwait(false);
        }
        catch (AggregateException)
        {
            // A callback registered on the handler's token threw; the drain ends regardless.
        }

        while (_queue.Reader.TryRead(out var message))
        {
            Log.InMemoryNotDelivered(_logger, message.MessageId, message.Route, context.EndpointName);
            _telemetry.MessagesDropped(message.Route, 1);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
    }

    internal ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        CheckSize(request);
        var call = CallCancellation.Rent(cancellationToken, Stopping());
        ValueTask<IpcMessage> pending;
        try
        {
            pending = _dispatcher!.DispatchRequestAsync(request, call.Token);
        }
        catch
        {
            call.Return();
            throw;
        }

        // The dispatcher's response is new and the caller's own, so it is handed over as it is.
        if (pending.IsCompletedSuccessfully)
        {
            var response = pending.Result;
            call.Return();
            return new ValueTask<IpcMessage>(response);
        }

        return WaitAsync(pending, call, cancellationToken);
    }

    private async ValueTask<IpcMessage> WaitAsync(ValueTask<IpcMessage> pending, CallCancellation call, CancellationToken cancellationToken)
    {
        try
        {
            // Wait on the caller's and the server's tokens too, so a handler that ignores its token cannot hold the caller.
            return await pending.AsTask().WaitAsync(call.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Stopped();
        }
        finally
        {
            call.Return();
        }
    }

    internal async ValueTask EnqueueAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        CheckSize(message);
        try
        {
            if (!_queue.Writer.TryWrite(message))
            {
                await _queue.Writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ChannelClosedException ex)
        {
            throw new IpcException(IpcErrorCode.Unavailable, $"The server on {context.DisplayAddress} stopped before the message was accepted.", ex) { NotAccepted = true };
        }
    }

    internal async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        CheckSize(request);
        using var call = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Stopping());
        var items = new DispatchedStream(_dispatcher!.DispatchStreamAsync(request, call.Token).GetAsyncEnumerator(call.Token));
        try
        {
            while (true)
            {
                try
                {
                    // Waits on the caller's and the server's tokens too, so a producer that ignores its token cannot hold the caller.
                    if (!await items.MoveNextAsync(call.Token).ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw Stopped();
                }

                yield return items.Current;
            }
        }
        finally
        {
            await call.CancelAsync().ConfigureAwait(false); // the consumer stopped: stop the producer
            await items.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Handles the queued one-way messages in order until the server stops and the queue is empty, or the stop's drain ends.</summary>
    private async Task ReadLoopAsync()
    {
        var token = _drainEnded.Token;
        try
        {
            while (await _queue.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (!token.IsCancellationRequested && _queue.Reader.TryRead(out var message))
                {
                    try
                    {
                        await _dispatcher!.DispatchOneWayAsync(message, token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (token.IsCancellationRequested)
                    {
                        // The drain ended while this handler ran, and the handler ended on its cancelled token: the message is
                        // not delivered, and is reported as the ones still queued are.
                        Log.InMemoryHandlerCancelled(_logger, message.MessageId, message.Route, context.EndpointName);
                        _telemetry.MessagesDropped(message.Route, 1);
                        throw;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The drain ended: what is still queued is reported by StopAsync.
        }
    }

    /// <summary>
    /// The token of one call: cancelled when the caller cancels or the server stops. A call that ends without either
    /// (nearly all) gives its source back for the next call on the thread, so a call allocates none.
    /// </summary>
    private sealed class CallCancellation
    {
        [ThreadStatic]
        private static CallCancellation? t_free;

        private readonly CancellationTokenSource _source = new();
        private CancellationTokenRegistration _caller;
        private CancellationTokenRegistration _server;

        public CancellationToken Token => _source.Token;

        public static CallCancellation Rent(CancellationToken caller, CancellationToken server)
        {
            var call = t_free ?? new CallCancellation();
            t_free = null;
            call._caller = caller.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), call._source);
            call._server = server.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), call._source);
            return call;
        }

        public void Return()
        {
            // Dispose waits for a callback that is running, so once both are gone nothing can cancel the source any more.
            _caller.Dispose();
            _server.Dispose();
            if (_source.TryReset())
            {
                t_free = this;
            }
            else
            {
                _source.Dispose();
            }
        }
    }

    private CancellationToken Stopping()
    {
        if (Volatile.Read(ref _state) != 1)
        {
            throw Stopped();
        }

        return _stopping.Token;
    }

    private void CheckSize(IpcMessage message)
    {
        if (message.Body.Length > context.MaxMessageSize)
        {
            throw new IpcException(
                IpcErrorCode.MessageTooLarge,
                $"The message for route '{message.Route}' is {message.Body.Length} bytes, over the server's {context.MaxMessageSize}-byte MaxMessageSize on {context.DisplayAddress}.");
        }
    }

    private IpcException Stopped(Exception? inner = null) =>
        new(IpcErrorCode.Unavailable, $"The server on {context.DisplayAddress} stopped before the call completed.", inner);
}
