using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Ipc.Tests.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Ipc.Tests.Diagnostics;

public sealed class CircuitBreakerTelemetryTests
{
    [Fact]
    public async Task RequestAsync_BreakerOpensThenCloses_CountsEachTransitionWithItsState()
    {
        await using var endpoint = ScriptedEndpoint.Create(r =>
        {
            r.Retry.MaxRetryAttempts = 0;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        });
        using var transitions = new MetricCollector<long>(endpoint.Services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, "ipc.client.circuit_breaker.transitions");
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true);

        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        endpoint.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(
            ["open", "half_open", "closed"],
            transitions.GetMeasurementSnapshot().Select(m => (string?)m.Tags["ipc.circuit_breaker.state"]));
        Assert.All(transitions.GetMeasurementSnapshot(), m => Assert.Equal(ScriptedEndpoint.Name, m.Tags["rpc.service"]));
    }
}
