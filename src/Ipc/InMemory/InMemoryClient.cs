using System.Runtime.CompilerServices;
using Ipc.Transports;

namespace Ipc.InMemory;

internal sealed class InMemoryClient(IpcTransportContext context) : IIpcTransportClient, IIpcTransportProbe
{
    private readonly string _key = InMemoryTransport.Key(context.Address);
    private int _disposed;

    /// <summary>Reachable while a server listens at the address.</summary>
    public ValueTask ProbeAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        return InMemoryHub.All(_key).IsEmpty ? ValueTask.FromException(Unavailable()) : default;
    }

    public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken) =>
        Listener().RequestAsync(request.Clone(), cancellationToken);

    public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken) =>
        Listener().EnqueueAsync(message.Clone(), cancellationToken);

    /// <summary>
    /// Hands the message to one instance of every service that subscribes to its topic: each service gets it once, and the
    /// instances of one service take turns. A topic nobody subscribes to takes the message and delivers it nowhere, as a
    /// broker does; with no server at the address at all, the publish fails with Unavailable.
    /// </summary>
    public async ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var listeners = InMemoryHub.All(_key);
        if (listeners.IsEmpty)
        {
            throw Unavailable();
        }

        var accepted = false;
        IpcException? failure = null;
        foreach (var service in listeners.Where(l => l.Subscribes(message.Route)).GroupBy(l => l.ServiceName, StringComparer.Ordinal))
        {
            var instances = service.ToArray();
            var turn = instances[0].NextPublishTurn();
            for (var i = 0; i < instances.Length; i++)
            {
                try
                {
                    await instances[(turn + i) % instances.Length].EnqueueAsync(message.Clone(), cancellationToken).ConfigureAwait(false);
                    accepted = true;
                    break;
                }
                catch (IpcException ex) when (ex.NotAccepted)
                {
                    failure = ex; // that instance stopped meanwhile: the next one of the service takes it
                }
            }
        }

        // Retrying is safe only while no service has the message yet.
        if (!accepted && failure is not null)
        {
            throw failure;
        }
    }

    public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in Listener().StreamAsync(request.Clone(), cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }
    }

    public ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _disposed, 1);
        return default;
    }

    private InMemoryListener Listener()
    {
        ThrowIfDisposed();
        return InMemoryHub.Primary(_key) ?? throw Unavailable();
    }

    private IpcException Unavailable() =>
        new(IpcErrorCode.Unavailable, $"No server is listening on {context.DisplayAddress}. Start the server of endpoint '{context.EndpointName}' first.")
        {
            Endpoint = context.EndpointName,
            NotAccepted = true, // nothing was handed to a server
        };

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
