using System.Runtime.CompilerServices;
using Ipc.Transports;

namespace Ipc.InMemory;

internal sealed class InMemoryClient(IpcTransportContext context) : IIpcTransportClient
{
    private readonly string _key = InMemoryTransport.Key(context.Address);
    private int _disposed;

    public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken) =>
        Listener().RequestAsync(request.Clone(), cancellationToken);

    public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken) =>
        Listener().EnqueueAsync(message.Clone(), cancellationToken);

    public async ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var listeners = InMemoryHub.All(_key);
        if (listeners.IsEmpty)
        {
            throw Unavailable();
        }

        foreach (var listener in listeners)
        {
            await listener.EnqueueAsync(message.Clone(), cancellationToken).ConfigureAwait(false);
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
        new(IpcErrorCode.Unavailable, $"No server is listening on {context.Address}. Start the server of endpoint '{context.EndpointName}' first.")
        {
            Endpoint = context.EndpointName,
            NotAccepted = true, // nothing was handed to a server
        };

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
