using System.Buffers;
using BenchmarkDotNet.Attributes;
using Ipc.Serialization;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Benchmarks;

/// <summary>
/// A typed request/response over the in-memory transport, beside a hand-written baseline that does the same work
/// without the library: serialize the request with MessagePack, deserialize it, call the handler, serialize and
/// deserialize the response. The difference is what Ipc adds (envelope, ids, routing, timeout, telemetry hooks).
/// The default row is what an app gets with no settings: the in-process pipeline (total timeout only); the other row
/// switches on the full standard pipeline (<c>Resilience:Enabled=true</c>) to show what retry, breaker and attempt timeout cost.
/// </summary>
[MemoryDiagnoser]
public class InMemoryBenchmarks
{
    private IHost _server = null!;
    private ServiceProvider _client = null!;
    private IRequestClient _requests = null!;
    private IRequestClient _full = null!;
    private IChannel _channel = null!;
    private readonly AddRequest _request = new(20, 22);
    private readonly Func<AddRequest, int> _handler = static r => r.A + r.B;
    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var address = $"inmemory://bench-{Guid.NewGuid():N}";
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint("bench", address).AddServer("bench", s => s
            .MapRequest(nameof(AddRequest), _handler)
            .MapMessage<AddRequest>("note", (_, _, _) => default));
        _server = builder.Build();
        await _server.StartAsync();

        var services = new ServiceCollection();
        services.AddIpc()
            .AddEndpoint("bench", address)
            .AddEndpoint("bench-full", address)
            .ConfigureResilience("bench-full", r => r.Enabled = true);
        _client = services.BuildServiceProvider();
        _requests = _client.GetRequiredKeyedService<IRequestClient>("bench");
        _full = _client.GetRequiredKeyedService<IRequestClient>("bench-full");
        _channel = _client.GetRequiredKeyedService<IChannel>("bench");
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _client.DisposeAsync();
        await _server.StopAsync();
        _server.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw: serialize, call, deserialize")]
    public int Raw()
    {
        _buffer.ResetWrittenCount();
        MessagePackSerializer.Serialize(_buffer, _request, MessagePackIpcSerializer.DefaultOptions);
        var request = MessagePackSerializer.Deserialize<AddRequest>(_buffer.WrittenMemory, MessagePackIpcSerializer.DefaultOptions);
        var response = _handler(request);
        _buffer.ResetWrittenCount();
        MessagePackSerializer.Serialize(_buffer, response, MessagePackIpcSerializer.DefaultOptions);
        return MessagePackSerializer.Deserialize<int>(_buffer.WrittenMemory, MessagePackIpcSerializer.DefaultOptions);
    }

    [Benchmark(Description = "typed request/response (defaults)")]
    public ValueTask<int> RequestAsync() => _requests.RequestAsync<AddRequest, int>(nameof(AddRequest), _request);

    [Benchmark(Description = "typed request/response, Resilience:Enabled=true")]
    public ValueTask<int> RequestFullPipelineAsync() => _full.RequestAsync<AddRequest, int>(nameof(AddRequest), _request);

    [Benchmark(Description = "one-way send")]
    public ValueTask SendAsync() => _channel.SendAsync("note", _request);
}
