using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Ipc.Tests.Diagnostics;

public sealed class ResilienceMetricTagsTests
{
    /// <summary>
    /// The retry and circuit breaker counters of an endpoint whose address has a port carry server.address, server.port
    /// and network.transport as its call metrics do, so one query groups an endpoint's calls, retries and transitions.
    /// </summary>
    [Fact]
    public async Task RetriesAndBreakerTransitions_AddressWithAPort_CarryTheServerTagsOfTheCallMetrics()
    {
        var transport = new ScriptedTransport().FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true);
        var services = new ServiceCollection().AddSingleton<TimeProvider>(new TimerFakeTimeProvider());
        services.AddIpc()
            .AddScriptedTransport(transport)
            .AddEndpoint("svc", "scripted://svc:5000")
            .ConfigureResilience("svc", r =>
            {
                r.TotalTimeout = Timeout.InfiniteTimeSpan;
                r.AttemptTimeout = Timeout.InfiniteTimeSpan;
                r.Retry.MaxRetryAttempts = 1;
                r.Retry.Delay = TimeSpan.Zero;
                r.Retry.UseJitter = false;
                r.CircuitBreaker.FailureRatio = 0.5;
                r.CircuitBreaker.MinimumThroughput = 2;
                r.CircuitBreaker.BreakDuration = TimeSpan.FromMinutes(5);
            });
        await using var provider = services.BuildServiceProvider();
        var meters = provider.GetRequiredService<IMeterFactory>();
        using var durations = new MetricCollector<double>(meters, IpcDiagnostics.MeterName, "ipc.client.request.duration");
        using var retries = new MetricCollector<long>(meters, IpcDiagnostics.MeterName, "ipc.client.retries");
        using var transitions = new MetricCollector<long>(meters, IpcDiagnostics.MeterName, "ipc.client.circuit_breaker.transitions");
        var client = provider.GetRequiredKeyedService<IRequestClient>("svc");

        await Assert.ThrowsAsync<IpcException>(() => client.RequestAsync<int, int>("echo", 1).AsTask().WaitAsync(TestSupport.Bound)); // fails, is retried, fails: the breaker opens

        var call = Assert.Single(durations.GetMeasurementSnapshot());
        Assert.Equal(5000, call.Tags["server.port"]);
        Assert.NotEmpty(retries.GetMeasurementSnapshot());
        Assert.NotEmpty(transitions.GetMeasurementSnapshot());
        foreach (var measurement in retries.GetMeasurementSnapshot().Concat(transitions.GetMeasurementSnapshot()))
        {
            Assert.Equal(
                [call.Tags["server.address"], call.Tags["server.port"], call.Tags["network.transport"]],
                [measurement.Tags.GetValueOrDefault("server.address"), measurement.Tags.GetValueOrDefault("server.port"), measurement.Tags.GetValueOrDefault("network.transport")]);
        }
    }
}
