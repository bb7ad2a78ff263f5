using Ipc.Transports;

namespace Ipc.Server;

/// <summary>The server of one endpoint: its definition, its dispatcher (created on first use) and who hosts it.</summary>
internal sealed class IpcServer(IpcServerDefinition definition, Func<IpcServerDefinition, IpcDispatcher> createDispatcher) : IIpcServer
{
    private const int Unclaimed = 0;
    private const int External = 1;
    private const int Listening = 2;

    private readonly object _gate = new();
    private readonly List<Func<CancellationToken, Task>> _stops = [];
    private IpcDispatcher? _dispatcher;
    private int _state;
    private bool _listening;

    public IpcServerDefinition Definition { get; } = definition;

    public string EndpointName => Definition.EndpointName;

    public IIpcDispatcher Dispatcher => GetDispatcher();

    /// <summary>Gets a value indicating whether the server's transport listener is started and not stopped.</summary>
    public bool IsListening => Volatile.Read(ref _listening);

    /// <summary>Records whether the server's transport listener runs (health checks read it).</summary>
    public void SetListening(bool listening) => Volatile.Write(ref _listening, listening);

    public bool IsHostedExternally => Volatile.Read(ref _state) == External;

    public void MarkHostedExternally()
    {
        if (Interlocked.CompareExchange(ref _state, External, Unclaimed) == Listening)
        {
            throw new InvalidOperationException(
                $"The server of endpoint '{EndpointName}' is already listening on its transport. Claim it for your host (MarkHostedExternally, MapIpc) before the host starts.");
        }
    }

    public void RegisterStop(Func<CancellationToken, Task> stop)
    {
        ArgumentNullException.ThrowIfNull(stop);
        if (!IsHostedExternally)
        {
            throw new InvalidOperationException(
                $"The server of endpoint '{EndpointName}' is not claimed by a host integration. Call MarkHostedExternally before RegisterStop.");
        }

        lock (_gate)
        {
            _stops.Add(stop);
        }
    }

    /// <summary>Takes the stops the host integration registered (<see cref="RegisterStop"/>), so each is called once.</summary>
    public Func<CancellationToken, Task>[] TakeStops()
    {
        lock (_gate)
        {
            var stops = _stops.ToArray();
            _stops.Clear();
            return stops;
        }
    }

    /// <summary>Claims the server for the hosted service's transport listener; false when a host integration serves it.</summary>
    public bool TryClaimListener() => Interlocked.CompareExchange(ref _state, Listening, Unclaimed) == Unclaimed;

    /// <summary>Gives the claim of a listener that stopped back.</summary>
    public void ReleaseListener() => Interlocked.CompareExchange(ref _state, Unclaimed, Listening);

    public IpcDispatcher GetDispatcher()
    {
        if (Volatile.Read(ref _dispatcher) is { } dispatcher)
        {
            return dispatcher;
        }

        lock (_gate)
        {
            // One dispatcher per server, so a duplicate filter sees every delivery however it arrived; not cached while the endpoint fails to resolve.
            return _dispatcher ??= createDispatcher(Definition);
        }
    }
}
