using System.Threading.Tasks.Sources;
using BenchmarkDotNet.Attributes;
using Ipc.Serialization;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Benchmarks;

/// <summary>
/// What the runtime's client costs around a transport whose answer comes later, as a real transport's does: a typed
/// request through <see cref="IRequestClient"/> with the defaults of a local endpoint (the standard pipeline) and with
/// <c>Resilience:Enabled=false</c>, beside the transport's client called alone. The transport answers once the benchmark
/// completes the call, on the same thread, so the figures hold the client's own work (serialization, envelope, the
/// resilience pipeline's steps once the call has gone asynchronous) and none of a medium's or a thread switch's.
/// </summary>
[MemoryDiagnoser]
public class ClientRuntimeBenchmarks
{
    private readonly byte[] _payload = new byte[64];
    private readonly DeferredTransport _transport = new();
    private ServiceProvider _client = null!;
    private IRequestClient _requests = null!;
    private IRequestClient _trimmed = null!;
    private IIpcTransportClient _transportClient = null!;
    private byte[] _encoded = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IIpcTransport>(_transport);
        services.AddIpc()
            .AddEndpoint("bench", $"{DeferredTransport.Scheme}://bench")
            .AddEndpoint("bench-trimmed", $"{DeferredTransport.Scheme}://bench")
            .ConfigureResilience("bench-trimmed", r => r.Enabled = false);
        _client = services.BuildServiceProvider();
        _requests = _client.GetRequiredKeyedService<IRequestClient>("bench");
        _trimmed = _client.GetRequiredKeyedService<IRequestClient>("bench-trimmed");
        _transportClient = (IIpcTransportClient)_client.GetRequiredKeyedService<IChannel>("bench").GetService(typeof(IIpcTransportClient))!;
        _encoded = MessagePack.MessagePackSerializer.Serialize(_payload, MessagePackIpcSerializer.DefaultOptions);
    }

    [GlobalCleanup]
    public ValueTask CleanupAsync() => _client.DisposeAsync();

    [Benchmark(Baseline = true, Description = "transport client alone")]
    public async Task<int> TransportAsync()
    {
        var call = _transportClient.RequestAsync(new IpcMessage("echo", _encoded) { ContentType = MessagePackIpcSerializer.MediaType }, CancellationToken.None);
        _transport.Answer();
        return (await call).Body.Length;
    }

    [Benchmark(Description = "IRequestClient (defaults: the standard pipeline)")]
    public async Task<int> RequestAsync()
    {
        var call = _requests.RequestAsync<byte[], byte[]>("echo", _payload);
        _transport.Answer();
        return (await call).Length;
    }

    [Benchmark(Description = "IRequestClient, Resilience:Enabled=false")]
    public async Task<int> TrimmedRequestAsync()
    {
        var call = _trimmed.RequestAsync<byte[], byte[]>("echo", _payload);
        _transport.Answer();
        return (await call).Length;
    }

    /// <summary>A transport with one call in flight at a time, answered (with its own body) when <see cref="Answer"/> is called.</summary>
    private sealed class DeferredTransport : IIpcTransport, IIpcTransportClient, IValueTaskSource<IpcMessage>
    {
        public const string Scheme = "deferred";
        private static readonly string[] s_schemes = [Scheme];
        private ManualResetValueTaskSourceCore<IpcMessage> _pending;
        private IpcMessage? _request;

        public string Name => "Deferred";

        public IReadOnlyList<string> Schemes => s_schemes;

        public TransportCapabilities GetCapabilities(Uri address) => TransportCapabilities.RequestResponse;

        public string? ValidateAddress(Uri address) => null;

        public IIpcTransportClient CreateClient(IpcTransportContext context) => this;

        public IIpcTransportListener CreateListener(IpcTransportContext context) => throw new NotSupportedException();

        public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
        {
            _request = request;
            _pending.Reset();
            return new ValueTask<IpcMessage>(this, _pending.Version);
        }

        public void Answer() => _pending.SetResult(IpcMessage.CreateResponse(_request!, _request!.Body));

        public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => default;

        IpcMessage IValueTaskSource<IpcMessage>.GetResult(short token) => _pending.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<IpcMessage>.GetStatus(short token) => _pending.GetStatus(token);

        void IValueTaskSource<IpcMessage>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _pending.OnCompleted(continuation, state, token, flags);
    }
}
