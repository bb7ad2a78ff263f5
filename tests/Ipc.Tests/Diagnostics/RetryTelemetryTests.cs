using System.Diagnostics;
using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Ipc.Tests.Resilience;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Polly.Telemetry;

namespace Ipc.Tests.Diagnostics;

/// <summary>Ipc reports retries itself; Polly's per-call telemetry is on only when asked for.</summary>
public sealed class RetryTelemetryTests
{
    [Fact]
    public async Task RequestAsync_RetriedTwice_CountsEachRetryWithItsErrorType()
    {
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 3);
        using var retries = new MetricCollector<long>(endpoint.Services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.client.retries");
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);
        endpoint.Transport.FailNext(IpcErrorCode.Timeout, notAccepted: true);

        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(3, endpoint.Transport.Attempts.Count);
        Assert.Equal(["Unavailable", "Timeout"], retries.GetMeasurementSnapshot().Select(m => (string?)m.Tags["error.type"]));
        Assert.All(retries.GetMeasurementSnapshot(), m =>
        {
            Assert.Equal(1, m.Value);
            Assert.Equal(ScriptedEndpoint.Name, m.Tags["rpc.service"]);
            Assert.Equal("echo", m.Tags["rpc.method"]);
        });
    }

    [Fact]
    public async Task RequestAsync_Retried_MarksTheCallsSpan()
    {
        // The listener hears every test's spans, stopped on other threads meanwhile: only this test's trace counts.
        var spans = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == IpcDiagnostics.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 1);
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);
        using var test = new Activity(nameof(RequestAsync_Retried_MarksTheCallsSpan)).SetIdFormat(ActivityIdFormat.W3C).Start();

        Assert.Equal("hello", await endpoint.RequestAsync());

        var span = Assert.Single(spans, s => s.TraceId == test.TraceId && s.Kind == ActivityKind.Client && s.GetTagItem("rpc.service") as string == ScriptedEndpoint.Name);
        var retry = Assert.Single(span.Events);
        Assert.Equal("ipc.retry", retry.Name);
        Assert.Equal("Unavailable", retry.Tags.Single(t => t.Key == "error.type").Value);
    }

    [Fact]
    public async Task RequestAsync_AppAddedPollyListener_PollyReportsEveryExecution()
    {
        var listener = new PipelineExecutions();
        await using var endpoint = ScriptedEndpoint.Create(services: services => services.Configure<TelemetryOptions>(o => o.TelemetryListeners.Add(listener)));

        Assert.Equal("hello", await endpoint.RequestAsync());
        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(2, listener.Count);
    }

    [Fact]
    public async Task RequestAsync_PollyTelemetryFalse_ReportsNothingToTheAppsPollyListener()
    {
        var listener = new PipelineExecutions();
        await using var endpoint = ScriptedEndpoint.Create(
            r => r.PollyTelemetry = false,
            services: services => services.Configure<TelemetryOptions>(o => o.TelemetryListeners.Add(listener)));

        Assert.Equal("hello", await endpoint.RequestAsync());
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);
        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(3, endpoint.Transport.Attempts.Count);
        Assert.Equal(0, listener.Count);
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData("true", 1)]
    public async Task RequestAsync_PollyTelemetryFromConfiguration_ReportsToPollyMeterOnlyWhenOn(string? value, int expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Ipc:Resilience:PollyTelemetry"] = value }).Build();
        await using var endpoint = ScriptedEndpoint.Create(configuration: configuration);
        using var durations = new MetricCollector<double>(null, "Polly", "resilience.polly.pipeline.duration");
        var route = "polly-telemetry-" + Guid.NewGuid().ToString("N"); // the Polly meter is the process's: other tests' calls have other routes

        Assert.Equal("hello", await endpoint.Client.RequestAsync<string, string>(route, "hello").AsTask().WaitAsync(TestSupport.Bound));

        Assert.Equal(expected, durations.GetMeasurementSnapshot().Count(m => m.Tags["operation.key"] as string == route));
    }

    [Theory]
    [InlineData("Fault")]
    [InlineData("Latency")]
    [InlineData("Outcome")]
    public async Task RequestAsync_PollyTelemetry_ReportsStrategiesByTheirDocumentedNames(string chaos)
    {
        var listener = new StrategyNames();
        await using var endpoint = ScriptedEndpoint.Create(
            r =>
            {
                r.PollyTelemetry = true;
                r.Retry.MaxRetryAttempts = 1;
                r.TotalTimeout = TimeSpan.FromSeconds(30);
                r.Chaos.Fault.Enabled = chaos == "Fault";
                r.Chaos.Fault.InjectionRate = 1;
                r.Chaos.Latency.Enabled = chaos == "Latency";
                r.Chaos.Latency.InjectionRate = 1;
                r.Chaos.Latency.Latency = TimeSpan.FromSeconds(1);
                r.Chaos.Outcome.Enabled = chaos == "Outcome";
                r.Chaos.Outcome.InjectionRate = 1;
            },
            services: services => services.Configure<TelemetryOptions>(o => o.TelemetryListeners.Add(listener)));

        var call = endpoint.RequestAsync();
        if (chaos == "Latency")
        {
            Assert.Equal(TimeSpan.FromSeconds(30), await endpoint.Time.WaitForTimerAsync(TestSupport.Bound)); // the total timeout
            endpoint.Time.Advance(await endpoint.Time.WaitForTimerAsync(TestSupport.Bound)); // the injected latency
            Assert.Equal("hello", await call);
        }
        else
        {
            await Assert.ThrowsAsync<IpcException>(() => call);
            Assert.Contains("Retry", listener.Names);
        }

        Assert.Contains("Chaos" + chaos, listener.Names);
    }

    private sealed class StrategyNames : TelemetryListener
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _names = new();

        public ICollection<string> Names => _names.Keys;

        public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
        {
            if (args.Source.PipelineInstanceName == ScriptedEndpoint.Name && args.Source.StrategyName is { } name)
            {
                _names.TryAdd(name, true);
            }
        }
    }
}
