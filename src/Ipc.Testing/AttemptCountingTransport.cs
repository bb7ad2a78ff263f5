using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Testing;

/// <summary>Wraps a transport and counts the calls its client makes, so a test sees what reached the transport, whatever it is.</summary>
internal sealed class AttemptCountingTransport(IIpcTransport inner, AttemptCountingTransport.Counter counter) : IIpcTransport
{
    public string Name => inner.Name;

    public IReadOnlyList<string> Schemes => inner.Schemes;

    public TransportCapabilities GetCapabilities(Uri address) => inner.GetCapabilities(address);

    public string? ValidateAddress(Uri address) => inner.ValidateAddress(address);

    public IIpcTransportClient CreateClient(IpcTransportContext context) => new Client(inner.CreateClient(context), counter);

    public IIpcTransportListener CreateListener(IpcTransportContext context) => inner.CreateListener(context);

    /// <summary>Replaces every registered transport with a counting wrapper.</summary>
    public static void Install(IServiceCollection services, Counter counter)
    {
        for (var i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType != typeof(IIpcTransport) || descriptor.IsKeyedService)
            {
                continue;
            }

            services[i] = ServiceDescriptor.Singleton<IIpcTransport>(sp => new AttemptCountingTransport(Resolve(descriptor, sp), counter));
        }
    }

    private static IIpcTransport Resolve(ServiceDescriptor descriptor, IServiceProvider services) =>
        (IIpcTransport)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));

    /// <summary>How many calls reached the transport.</summary>
    public sealed class Counter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        internal void Increment() => Interlocked.Increment(ref _count);
    }

    private sealed class Client(IIpcTransportClient inner, Counter counter) : IIpcTransportClient
    {
        public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
        {
            counter.Increment();
            return inner.RequestAsync(request, cancellationToken);
        }

        public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
        {
            counter.Increment();
            return inner.SendAsync(message, cancellationToken);
        }

        public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken)
        {
            counter.Increment();
            return inner.PublishAsync(message, cancellationToken);
        }

        public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken)
        {
            counter.Increment();
            return inner.StreamAsync(request, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
