using System.Collections.Concurrent;
using Ipc.InMemory;
using Ipc.Testing;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Testing;

/// <summary>
/// No built-in transport is durable, so the durable suite runs here on the smallest transport that is: the in-memory one,
/// keeping what is sent while no server listens for the next server that starts on the address.
/// </summary>
[Trait("Transport", "Keeping")]
public sealed class KeepingDurableTests : DurableConformanceTests<KeepingTransportUnderTest>;

public sealed class KeepingTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => $"{KeepingTransport.Scheme}://conformance-{Guid.NewGuid():N}";

    public override void ConfigureIpc(IIpcBuilder ipc) => ipc.AddTransport<KeepingTransport>();
}

/// <summary>An in-memory transport that keeps one-way messages sent while no server listens, and hands them to the next server that starts.</summary>
internal sealed class KeepingTransport : IIpcTransport
{
    public const string Scheme = "keeping";

    private static readonly ConcurrentDictionary<string, ConcurrentQueue<IpcMessage>> s_kept = new(StringComparer.Ordinal);

    private readonly InMemoryTransport _inner = new();

    public string Name => "Keeping";

    public IReadOnlyList<string> Schemes { get; } = [Scheme];

    public TransportCapabilities GetCapabilities(Uri address) => _inner.GetCapabilities(address) | TransportCapabilities.Durable;

    public string? ValidateAddress(Uri address) => _inner.ValidateAddress(address);

    public IIpcTransportClient CreateClient(IpcTransportContext context) => new Client(_inner.CreateClient(context), InMemoryTransport.Key(context.Address));

    public IIpcTransportListener CreateListener(IpcTransportContext context) => new Listener(_inner.CreateListener(context), InMemoryTransport.Key(context.Address));

    private sealed class Client(IIpcTransportClient inner, string key) : IIpcTransportClient
    {
        public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken) => inner.RequestAsync(request, cancellationToken);

        public async ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
        {
            try
            {
                await inner.SendAsync(message, cancellationToken);
            }
            catch (IpcException ex) when (ex.NotAccepted)
            {
                s_kept.GetOrAdd(key, _ => new ConcurrentQueue<IpcMessage>()).Enqueue(message.Clone());
            }
        }

        public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) => inner.PublishAsync(message, cancellationToken);

        public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken) => inner.StreamAsync(request, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class Listener(IIpcTransportListener inner, string key) : IIpcTransportListener
    {
        public async ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken)
        {
            await inner.StartAsync(dispatcher, cancellationToken);
            if (s_kept.TryRemove(key, out var kept))
            {
                while (kept.TryDequeue(out var message))
                {
                    await dispatcher.DispatchOneWayAsync(message, cancellationToken);
                }
            }
        }

        public ValueTask StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
