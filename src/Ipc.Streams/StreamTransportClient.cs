using Ipc.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ipc.Transports.Streams;

/// <summary>
/// The client of a stream transport for one endpoint: a pool of connections opened on first use and reopened on the
/// next call after one is lost.
/// </summary>
internal sealed class StreamTransportClient : IIpcTransportClient, IIpcTransportProbe
{
    private readonly IpcTransportContext _context;
    private readonly StreamTransportOptions _options;
    private readonly ConnectionTransport _transport;
    private readonly ILogger _logger;
    private readonly IpcTransportTelemetry _telemetry;
    private readonly Task<ClientConnection>?[] _slots;
    private readonly Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>[] _resends; // one per slot, made once
    private readonly CancellationTokenSource _disposed = new();
    private readonly object _gate = new();
    private int _next;
    private int _connections;

    public StreamTransportClient(IpcTransportContext context, StreamTransportOptions options, ConnectionTransport transport)
    {
        _context = context;
        _options = options;
        _transport = transport;
        _logger = (context.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Transports.Streams");
        _slots = new Task<ClientConnection>?[options.ConnectionPoolSize];
        _resends = new Func<IpcMessage, CancellationToken, ValueTask<IpcMessage>>[_slots.Length];
        for (var slot = 0; slot < _slots.Length; slot++)
        {
            var index = slot;
            _resends[slot] = (request, cancellationToken) => ResendAsync(index, request, cancellationToken);
        }

        _telemetry = IpcTransportTelemetry.ForClient(context);
    }

    /// <summary>Reachable when the first connection of the pool is open or opens, handshake included; no handler runs.</summary>
    public async ValueTask ProbeAsync(CancellationToken cancellationToken) => await GetConnectionAsync(0, cancellationToken).ConfigureAwait(false);

    /// <remarks>
    /// A request the connection's server never read (the connection closed, or went away, first: an idle connection the
    /// server let go, say) goes once more, on a new connection: nothing ran. On an open connection the caller awaits the
    /// connection's pending call itself, which sends it again if it must (<see cref="ClientConnection.RequestAsync"/>).
    /// </remarks>
    public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
    {
        var slot = NextSlot();
        var current = Volatile.Read(ref _slots[slot]);
        return current is { IsCompletedSuccessfully: true } && current.Result.IsUsable
            ? current.Result.RequestAsync(request, cancellationToken, _resends[slot])
            : RequestWhenConnectedAsync(slot, request, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> RequestWhenConnectedAsync(int slot, IpcMessage request, CancellationToken cancellationToken)
    {
        var connection = await GetConnectionAsync(slot, cancellationToken).ConfigureAwait(false);
        return await connection.RequestAsync(request, cancellationToken, _resends[slot]).ConfigureAwait(false);
    }

    /// <summary>Sends a request the server never read once more, on the slot's connection (a new one once the old is gone), and not again.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IpcMessage> ResendAsync(int slot, IpcMessage request, CancellationToken cancellationToken)
    {
        var connection = await GetConnectionAsync(slot, cancellationToken).ConfigureAwait(false);
        return await connection.RequestAsync(request, cancellationToken, resend: null).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        // One-way messages all take the first connection, so the server handles them in the order they were sent.
        var connection = await GetConnectionAsync(0, cancellationToken).ConfigureAwait(false);
        try
        {
            await connection.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (IpcException ex) when (ex.NotAccepted)
        {
            connection = await GetConnectionAsync(0, cancellationToken).ConfigureAwait(false); // as for requests
            await connection.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) =>
        ValueTask.FromException(new IpcException(
            IpcErrorCode.NotSupported,
            $"The {_transport.Name} transport has no publish/subscribe; endpoint '{_context.EndpointName}' ({_context.DisplayAddress}) can send one-way messages to one server instead.")
        {
            Endpoint = _context.EndpointName,
        });

    public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var slot = NextSlot();
        var connection = await GetConnectionAsync(slot, cancellationToken).ConfigureAwait(false);
        var items = connection.StreamAsync(request, cancellationToken).GetAsyncEnumerator(cancellationToken);
        bool any;
        try
        {
            any = await items.MoveNextAsync().ConfigureAwait(false);
        }
        catch (IpcException ex) when (ex.NotAccepted)
        {
            // As for requests: the server never saw the stream's request, so it goes once more on a new connection.
            await items.DisposeAsync().ConfigureAwait(false);
            connection = await GetConnectionAsync(slot, cancellationToken).ConfigureAwait(false);
            items = connection.StreamAsync(request, cancellationToken).GetAsyncEnumerator(cancellationToken);
            any = await items.MoveNextAsync().ConfigureAwait(false);
        }

        try
        {
            while (any)
            {
                yield return items.Current;
                any = await items.MoveNextAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await items.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task<ClientConnection>?[] slots;
        lock (_gate)
        {
            if (_disposed.IsCancellationRequested)
            {
                return;
            }

            _disposed.Cancel();
            slots = [.. _slots];
        }

        foreach (var slot in slots)
        {
            if (slot is { IsCompletedSuccessfully: true })
            {
                slot.Result.Close(new ObjectDisposedException(nameof(IIpcTransportClient), "The client was disposed."));
            }
        }
    }

    private int NextSlot() => _slots.Length == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _next) % (uint)_slots.Length);

    private ValueTask<ClientConnection> GetConnectionAsync(int slot, CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _slots[slot]);
        if (current is { IsCompletedSuccessfully: true } && current.Result.IsUsable)
        {
            return new ValueTask<ClientConnection>(current.Result);
        }

        return GetConnectionSlowAsync(slot, cancellationToken);
    }

    private async ValueTask<ClientConnection> GetConnectionSlowAsync(int slot, CancellationToken cancellationToken)
    {
        Task<ClientConnection> connecting;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            var current = _slots[slot];
            if (current is null || current.IsFaulted || current.IsCanceled || (current.IsCompletedSuccessfully && !current.Result.IsUsable))
            {
                if (current is { IsCompletedSuccessfully: true })
                {
                    _telemetry.Reconnecting(); // the connection this slot held was lost
                }

                current = _slots[slot] = ConnectAsync();
            }

            connecting = current;
        }

        return await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<ClientConnection> ConnectAsync()
    {
        using var timeout = new CancellationTokenSource(_context.ConnectTimeout, _context.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _disposed.Token);
        DuplexConnection? opened = null;
        ClientConnection? connection = null;
        try
        {
            opened = await _transport.OpenAsync(_context, linked.Token).ConfigureAwait(false);
            var number = Interlocked.Increment(ref _connections);
            connection = new ClientConnection(
                opened,
                _context.EndpointName,
                _context.MaxMessageSize,
                _options,
                _context.TimeProvider,
                _logger,
                $"endpoint '{_context.EndpointName}' {_context.DisplayAddress} client connection #{number}")
            {
                Telemetry = _telemetry,
            };
            _ = RunAsync(connection);
            await connection.HandshakeAsync(linked.Token).ConfigureAwait(false);
            return connection;
        }
        catch (Exception ex)
        {
            if (connection is not null)
            {
                connection.Close(ex);
            }
            else if (opened is not null)
            {
                await opened.DisposeAsync().ConfigureAwait(false);
            }

            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            throw Map(ex, timeout.IsCancellationRequested, handshaking: connection is not null);
        }
    }

    /// <summary>Runs a connection's read loop, reporting it open and closed.</summary>
    private async Task RunAsync(ClientConnection connection)
    {
        var opened = _telemetry.ConnectionOpened(connection.Description);
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _telemetry.ConnectionClosed(connection.Description, opened, connection.CloseReason);
        }
    }

    private IpcException Map(Exception ex, bool timedOut, bool handshaking)
    {
        // Nothing is written before a connection is open, so every failure to open one leaves the message not accepted.
        if (handshaking && !timedOut && ex is IpcException { ErrorCode: IpcErrorCode.Unavailable } closed)
        {
            return Error(IpcErrorCode.Unavailable, $"Could not connect to {_context.DisplayAddress} (endpoint '{_context.EndpointName}'): the server closed the connection before the handshake finished. {closed.Message}", ex);
        }

        // Otherwise an IpcException already says what happened, in the transport's words ("No server is listening on ...")
        // or the server's (a GoAway that refused this client).
        if (ex is IpcException ipc)
        {
            return ipc.NotAccepted && ipc.Endpoint is not null
                ? ipc
                : new IpcException(ipc.ErrorCode, ipc.Message, ipc.InnerException) { Endpoint = ipc.Endpoint ?? _context.EndpointName, NotAccepted = true };
        }

        if (Find<AuthenticationException>(ex) is { } authentication)
        {
            return Error(IpcErrorCode.Unauthorized, $"Authenticating with {_context.DisplayAddress} (endpoint '{_context.EndpointName}') failed: {authentication.Message}", ex);
        }

        if (Find<UnauthorizedAccessException>(ex) is { } access)
        {
            return Error(IpcErrorCode.Unauthorized, $"Access to {_context.DisplayAddress} (endpoint '{_context.EndpointName}') was denied: {access.Message}", ex);
        }

        if (Find<SocketException>(ex) is { SocketErrorCode: SocketError.AccessDenied } denied)
        {
            // The system refused the connect: a local socket whose file's mode does not let this process's user in (another
            // user's server), or, for a network address, a firewall rule. No retry helps.
            return Error(IpcErrorCode.Unauthorized, $"Access to {_context.DisplayAddress} (endpoint '{_context.EndpointName}') was denied: {denied.Message}. The system refused this process: a local server's socket file admits only the users its mode lets in, by default the server's own (run this process as that user); for a network address, a firewall rule may refuse it.", ex);
        }

        if (timedOut)
        {
            return Error(
                IpcErrorCode.Unavailable,
                $"Could not connect to {_context.DisplayAddress} (endpoint '{_context.EndpointName}') within its ConnectTimeout of {_context.ConnectTimeout}: the server did not answer in time.",
                ex);
        }

        return Error(IpcErrorCode.Unavailable, $"Could not connect to {_context.DisplayAddress} (endpoint '{_context.EndpointName}'): {ex.Message}", ex);
    }

    private IpcException Error(IpcErrorCode code, string message, Exception inner) =>
        new(code, message, inner) { Endpoint = _context.EndpointName, NotAccepted = true };

    private static T? Find<T>(Exception? ex)
        where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
            {
                return found;
            }
        }

        return null;
    }
}
