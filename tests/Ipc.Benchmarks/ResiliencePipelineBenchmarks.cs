using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Polly;

namespace Ipc.Benchmarks;

/// <summary>
/// What an endpoint's resilience pipeline costs by itself: the pipeline each client runs every call through (read back
/// with <c>GetService(typeof(ResiliencePipeline))</c>) around a callback that completes at once, against calling that
/// callback directly. No transport, no serialization: the per-call floor the pipeline sets on every transport.
/// </summary>
[MemoryDiagnoser]
public class ResiliencePipelineBenchmarks
{
    private ServiceProvider _client = null!;
    private ResiliencePipeline _local = null!;
    private ResiliencePipeline _localWithPolly = null!;
    private ResiliencePipeline _inProcess = null!;
    private ResiliencePipeline _trimmed = null!;
    private ResilienceContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection();
        services.AddIpc()
            .AddSockets()
            .AddEndpoint("local", $"unix://{Path.Combine(Path.GetTempPath(), "bench-pipeline.sock")}") // never connected: only its pipeline is used
            .AddEndpoint("in-process", "inmemory://bench-pipeline")
            .AddEndpoint("local-polly-telemetry", $"unix://{Path.Combine(Path.GetTempPath(), "bench-pipeline-polly.sock")}")
            .AddEndpoint("trimmed", "inmemory://bench-pipeline-trimmed")
            .ConfigureResilience("in-process", r => r.Enabled = true)
            .ConfigureResilience("local-polly-telemetry", r => r.PollyTelemetry = true);
        _client = services.BuildServiceProvider();
        _local = Pipeline("local");
        _localWithPolly = Pipeline("local-polly-telemetry");
        _inProcess = Pipeline("in-process");
        _trimmed = Pipeline("trimmed");
        _context = ResilienceContextPool.Shared.Get("route");
    }

    [GlobalCleanup]
    public ValueTask CleanupAsync() => _client.DisposeAsync();

    [Benchmark(Baseline = true, Description = "callback alone")]
    public ValueTask<int> Direct() => Callback(_context, 1);

    [Benchmark(Description = "standard pipeline, local kind (unix://)")]
    public ValueTask<int> Local() => Execute(_local);

    [Benchmark(Description = "standard pipeline, local kind, PollyTelemetry=true")]
    public ValueTask<int> LocalWithPollyTelemetry() => Execute(_localWithPolly);

    [Benchmark(Description = "standard pipeline, in-memory with Enabled=true")]
    public ValueTask<int> InProcessFull() => Execute(_inProcess);

    [Benchmark(Description = "in-process default (total timeout only)")]
    public ValueTask<int> InProcessDefault() => Execute(_trimmed);

    private static ValueTask<int> Execute(ResiliencePipeline pipeline)
    {
        var context = ResilienceContextPool.Shared.Get("route"); // as every call does
        var result = pipeline.ExecuteAsync(static (ctx, state) => Callback(ctx, state), context, 1);
        ResilienceContextPool.Shared.Return(context); // the callback completed synchronously, so the call is over
        return result;
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // a real call, as a transport's is
    private static ValueTask<int> Callback(ResilienceContext context, int state) => new(state);

    private ResiliencePipeline Pipeline(string endpoint) =>
        (ResiliencePipeline)_client.GetRequiredKeyedService<IRequestClient>(endpoint).GetService(typeof(ResiliencePipeline))!;
}
