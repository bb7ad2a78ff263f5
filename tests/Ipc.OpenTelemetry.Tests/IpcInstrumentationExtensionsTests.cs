using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Ipc.OpenTelemetry.Tests;

public sealed class IpcInstrumentationExtensionsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task AddIpcInstrumentation_RequestAsync_ExportsClientAndServerSpansOfOneTraceAndTheDurations()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracing = Sdk.CreateTracerProviderBuilder().AddSource("Ipc.OpenTelemetry.Tests").AddIpcInstrumentation().AddInMemoryExporter(spans).Build();
        using var meters = Sdk.CreateMeterProviderBuilder().AddIpcInstrumentation().AddInMemoryExporter(metrics).Build();
        using var source = new ActivitySource("Ipc.OpenTelemetry.Tests");
        var endpoint = $"otel-{Guid.NewGuid():N}";
        var address = $"inmemory://{endpoint}";
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint(endpoint, address).AddServer(endpoint, s => s.MapRequest<int, int>("double", n => n * 2));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(Bound);
        var services = new ServiceCollection();
        services.AddIpc().AddEndpoint(endpoint, address);
        await using var client = services.BuildServiceProvider();

        ActivityTraceId trace;
        using (var caller = source.StartActivity("caller"))
        {
            trace = caller!.TraceId;
            Assert.Equal(42, await client.GetRequiredKeyedService<IRequestClient>(endpoint).RequestAsync<int, int>("double", 21).AsTask().WaitAsync(Bound));
        }

        await server.StopAsync().WaitAsync(Bound);
        tracing.ForceFlush();
        meters.ForceFlush();

        var ipcSpans = spans.Where(s => s.Source.Name == "Ipc" && s.TraceId == trace).ToList();
        Assert.Contains(ipcSpans, s => s.Kind == ActivityKind.Client && s.DisplayName == $"{endpoint}/double");
        Assert.Contains(ipcSpans, s => s.Kind == ActivityKind.Server && s.DisplayName == $"{endpoint}/double");
        Assert.Contains(metrics, m => m.Name == "ipc.client.request.duration" && m.MeterName == "Ipc");
        Assert.Contains(metrics, m => m.Name == "ipc.server.request.duration" && m.MeterName == "Ipc");
    }

    /// <summary>The hosted set-up docs/observability.md shows (OpenTelemetry.Extensions.Hosting), run in a host.</summary>
    [Fact]
    public async Task AddOpenTelemetry_WithIpcInstrumentation_ExportsSpansAndMetricsOfTheHostsCalls()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        var endpoint = $"otel-hosted-{Guid.NewGuid():N}";
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc()
            .AddEndpoint(endpoint, $"inmemory://{endpoint}")
            .AddServer(endpoint, s => s.MapRequest<int, int>("double", n => n * 2));
        #region hosted
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("calculator"))
            .WithTracing(t => t.AddIpcInstrumentation().AddInMemoryExporter(spans))    // or AddOtlpExporter(), ...
            .WithMetrics(m => m.AddIpcInstrumentation().AddInMemoryExporter(metrics)); // or AddOtlpExporter(), ...
        #endregion
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);

        var client = host.Services.GetRequiredKeyedService<IRequestClient>(endpoint);
        Assert.Equal(42, await client.RequestAsync<int, int>("double", 21).AsTask().WaitAsync(Bound));
        Assert.True(host.Services.GetRequiredService<TracerProvider>().ForceFlush());
        Assert.True(host.Services.GetRequiredService<MeterProvider>().ForceFlush());
        await host.StopAsync().WaitAsync(Bound);

        var clientSpan = spans.Single(s => s.Source.Name == "Ipc" && s.Kind == ActivityKind.Client && s.DisplayName == $"{endpoint}/double");
        var serverSpan = spans.Single(s => s.Source.Name == "Ipc" && s.Kind == ActivityKind.Server && s.DisplayName == $"{endpoint}/double");
        Assert.Equal(clientSpan.TraceId, serverSpan.TraceId);
        Assert.Equal(clientSpan.SpanId, serverSpan.ParentSpanId);
        Assert.Contains(metrics, m => m.Name == "ipc.client.request.duration" && m.MeterName == "Ipc");
        Assert.Contains(metrics, m => m.Name == "ipc.server.request.duration" && m.MeterName == "Ipc");
    }
}
