using Ipc.Diagnostics;
using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Transports.Streams;

/// <summary>
/// The server of a stream-core transport for one endpoint: accepts connections from a <see cref="ConnectionAcceptor"/> and serves
/// each on its own until it closes or the listener stops.
/// </summary>
internal sealed class StreamTransportListener(IpcTransportContext context, StreamTransportOptions options, ConnectionAcceptor acceptor) : IIpcTransportListener
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _drainEnded = new(); // once the stop's DrainTimeout or token ends: one-way handlers are cancelled, the rest reported
    private readonly ConcurrentDictionary<ServerConnection, Task> _connections = new();
    private int _dedicatedReaders;
    private int _active;
    private readonly IpcTransportTelemetry _telemetry = IpcTransportTelemetry.ForServer(context);
    private readonly ILogger _logger = (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Transports.Streams");
    private IIpcDispatcher? _dispatcher;
    private Task? _acceptLoop;
    private int _state; // 0 new, 1 started, 2 stopped
    private int _accepted;

    public async ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatcher);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("A stream listener can be started once.");
        }

        _dispatcher = dispatcher;
        await acceptor.StartAsync(cancellationToken).ConfigureAwait(false);
        _acceptLoop = Task.Run(AcceptLoopAsync, CancellationToken.None);
    }

    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        var previous = Interlocked.Exchange(ref _state, 2);
        if (previous == 2)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_acceptLoop is { } acceptLoop)
        {
            await acceptLoop.ConfigureAwait(false);
        }

        await acceptor.DisposeAsync().ConfigureAwait(false);

        // The one-way messages already accepted are handled for DrainTimeout at most, or until the caller's token ends it.
        using var grace = new CancellationTokenSource(context.DrainTimeout, context.TimeProvider);
        using var graceEnded = grace.Token.UnsafeRegister(static s => ((StreamTransportListener)s!).EndDrain(), this);
        using var stopEnded = cancellationToken.UnsafeRegister(static s => ((StreamTransportListener)s!).EndDrain(), this);

        // Tell every client first, so their pending calls fail with Unavailable at once; then wait for the connections to
        // end, each once its accepted one-way messages are handled.
        await Task.WhenAll(_connections.Keys.Select(c => c.ShutdownAsync())).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(_drainEnded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // DrainTimeout is over: what was still queued is reported, and a handler that ignores its token is not waited for.
        }
    }

    private void EndDrain()
    {
        try
        {
            _drainEnded.Cancel();
        }
        catch (AggregateException)
        {
            // A callback registered on a handler's token threw; the drain ends regardless.
        }
    }

    public ValueTask DisposeAsync() => StopAsync(CancellationToken.None);

    private async Task AcceptLoopAsync()
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            DuplexConnection accepted;
            try
            {
                accepted = await acceptor.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                Log.AcceptFailed(_logger, context.EndpointName, context.DisplayAddress, ex);
                try
                {
                    // Back off, so a persistent failure (out of file descriptors) does not spin.
                    await Task.Delay(TimeSpan.FromMilliseconds(50), context.TimeProvider, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }
            catch (Exception)
            {
                return;
            }

            _ = ServeAsync(accepted, Interlocked.Increment(ref _accepted));
        }
    }

    private async Task ServeAsync(DuplexConnection accepted, int number)
    {
        var description = $"endpoint '{context.EndpointName}' {context.DisplayAddress} server connection #{number}";
        var admitted = Interlocked.Increment(ref _active) <= options.MaxConnections;
        try
        {
            await ServeAdmittedAsync(accepted, admitted, description).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task ServeAdmittedAsync(DuplexConnection accepted, bool admitted, string description)
    {
        DuplexConnection framed;
        try
        {
            using var handshake = new CancellationTokenSource(options.HandshakeTimeout, context.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(handshake.Token, _stopping.Token);
            framed = await acceptor.AuthenticateAsync(accepted, linked.Token).ConfigureAwait(false);
        }
        catch (ConnectionRefusedException refused)
        {
            Log.Refused(_logger, description, refused.Message, refused);
            await TellRefusedAsync(refused, IpcErrorCode.Unauthorized, $"The server at {context.DisplayAddress} refused this client: {refused.Message}").ConfigureAwait(false);
            await accepted.DisposeAsync().ConfigureAwait(false);
            return;
        }
        catch (Exception ex)
        {
            Log.Refused(_logger, description, ex.Message, ex);
            await accepted.DisposeAsync().ConfigureAwait(false);
            return;
        }

        framed.RemoteAddress ??= accepted.RemoteAddress; // named on accept, kept if the handshake wrapped the connection
        if (framed.RemoteAddress is { } peer)
        {
            description = $"{description} from {peer}"; // the connection's logs name its client too
        }

        if (!admitted)
        {
            // Told after the handshake, so that a TLS client can read why.
            Log.TooManyConnections(_logger, description, options.MaxConnections);
            await TellRefusedAsync(
                new ConnectionRefusedException(framed, "too many connections"),
                IpcErrorCode.ResourceExhausted,
                $"The server at {context.DisplayAddress} serves at most {options.MaxConnections} connections at once (MaxConnections of endpoint '{context.EndpointName}'); try again later.").ConfigureAwait(false);
            return;
        }

        // Connections past MaxDedicatedReaders read asynchronously, so many clients cost no more than that many threads.
        var dedicated = options.DedicatedReaders && Interlocked.Increment(ref _dedicatedReaders) <= options.MaxDedicatedReaders;
        if (options.DedicatedReaders && !dedicated)
        {
            Interlocked.Decrement(ref _dedicatedReaders);
        }

        var connection = new ServerConnection(framed, _dispatcher!, options, dedicated, context.TimeProvider, _drainEnded.Token, _logger, description) { Telemetry = _telemetry };
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _connections[connection] = done.Task;
        var opened = _telemetry.ConnectionOpened(description);
        try
        {
            if (_stopping.IsCancellationRequested)
            {
                connection.Close(); // accepted as the listener stopped: StopAsync may not have seen it
            }

            await connection.ServeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_logger, description, ex);
        }
        finally
        {
            if (dedicated)
            {
                Interlocked.Decrement(ref _dedicatedReaders);
            }

            _connections.TryRemove(connection, out _);
            _telemetry.ConnectionClosed(description, opened, connection.CloseReason);
            done.TrySetResult();
        }
    }

    private async Task TellRefusedAsync(ConnectionRefusedException refused, IpcErrorCode code, string reason)
    {
        var frames = new ArrayBufferWriter<byte>();
        frames.Write(WireFormat.Preface);
        WireFormat.WriteGoAway(frames, code, reason);
        try
        {
            await refused.Connection.WriteAsync(frames.WrittenMemory).AsTask().WaitAsync(options.HandshakeTimeout, context.TimeProvider).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or TimeoutException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            // Best effort: the client sees a closed connection instead.
        }
        finally
        {
            await refused.Connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
