using System.Collections.Concurrent;
using Ipc.Resilience;

namespace Ipc.Client;

internal sealed class IpcClientFactory(EndpointRegistry endpoints, ResilienceProvider resilience) : IIpcClientFactory, IAsyncDisposable, IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<IpcClient>> _clients = new(StringComparer.OrdinalIgnoreCase);
    private int _disposed;

    public IRequestClient GetRequestClient(string endpointName) => Get(endpointName);

    public IChannel GetChannel(string endpointName) => Get(endpointName);

    private IpcClient Get(string endpointName)
    {
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _clients.GetOrAdd(endpointName, name => new Lazy<IpcClient>(() => Create(endpoints.Get(name)))).Value;
    }

    private IpcClient Create(EndpointRuntime endpoint) => new(endpoint, resilience.Create(endpoint));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var client in _clients.Values)
        {
            if (client.IsValueCreated)
            {
                await client.Value.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
