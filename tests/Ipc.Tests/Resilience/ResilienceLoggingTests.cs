using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ipc.Tests.Resilience;

/// <summary>At the default log levels (Information and above) a call that succeeds logs nothing, retried or not.</summary>
[Trait("Category", "Resilience")]
public sealed class ResilienceLoggingTests
{
    [Fact]
    public async Task RequestAsync_Succeeds_LogsNothingAtDefaultLevels()
    {
        var logs = new ListLoggerProvider();
        await using var endpoint = ScriptedEndpoint.Create(services: services => services.AddLogging(b => b.AddProvider(logs)));

        Assert.Equal("hello", await endpoint.RequestAsync());
        await endpoint.Channel.SendAsync("note", 1).AsTask().WaitAsync(TestSupport.Bound);

        Assert.Empty(logs.Entries);
    }

    [Fact]
    public async Task RequestAsync_SucceedsAfterRetriedTransientFailure_LogsNothingAtDefaultLevels()
    {
        var logs = new ListLoggerProvider();
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 2, services => services.AddLogging(b => b.AddProvider(logs)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);

        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.Equal(2, endpoint.Transport.Attempts.Count);
        Assert.Empty(logs.Entries);
    }

    [Fact]
    public async Task RequestAsync_RetriedTransientFailure_LogsAtDebug()
    {
        var logs = new ListLoggerProvider();
        await using var endpoint = ScriptedEndpoint.Create(r => r.Retry.MaxRetryAttempts = 2, services => services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);

        Assert.Equal("hello", await endpoint.RequestAsync());

        var retry = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Debug, retry.Level);
        Assert.Equal("Ipc.Resilience", retry.Category);
        Assert.Contains($"route 'echo' of endpoint '{ScriptedEndpoint.Name}' failed (Unavailable); retry 1 in", retry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_RetriedWithPollyTelemetry_PollyLogsEachAttemptAtDebug()
    {
        var logs = new ListLoggerProvider();
        await using var endpoint = ScriptedEndpoint.Create(
            r =>
            {
                r.Retry.MaxRetryAttempts = 2;
                r.PollyTelemetry = true;
            },
            services => services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, notAccepted: true);

        Assert.Equal("hello", await endpoint.RequestAsync());

        var retry = Assert.Single(logs.Entries, e => e.Message.Contains("OnRetry", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Debug, retry.Level);
        Assert.Equal(2, logs.Entries.Count(e => e.Category == "Polly" && e.Message.Contains("Execution attempt", StringComparison.Ordinal)));
        Assert.All(logs.Entries, e => Assert.True(e.Level <= LogLevel.Debug, e.ToString()));
    }

    [Fact]
    public async Task RequestAsync_Succeeds_PollyReportsNothingByDefault()
    {
        var logs = new ListLoggerProvider();
        await using var endpoint = ScriptedEndpoint.Create(services: services => services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)));

        Assert.Equal("hello", await endpoint.RequestAsync());

        Assert.DoesNotContain(logs.Entries, e => e.Category.StartsWith("Polly", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RequestAsync_BreakerOpens_StillLogsWarning(bool pollyTelemetry)
    {
        var logs = new ListLoggerProvider();
        await using var endpoint = ScriptedEndpoint.Create(
            r =>
            {
                r.Retry.MaxRetryAttempts = 0;
                r.CircuitBreaker.FailureRatio = 0.5;
                r.CircuitBreaker.MinimumThroughput = 2;
                r.PollyTelemetry = pollyTelemetry;
            },
            services => services.AddLogging(b => b.AddProvider(logs)));
        endpoint.Transport.FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true);

        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());
        await Assert.ThrowsAsync<IpcException>(() => endpoint.RequestAsync());

        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message == $"The circuit breaker of endpoint '{ScriptedEndpoint.Name}' ({ScriptedTransport.Scheme}://{ScriptedEndpoint.Name}) is now open.");
        Assert.Equal(pollyTelemetry, logs.Entries.Any(e => e.Level >= LogLevel.Warning && e.Message.Contains("OnCircuitOpened", StringComparison.Ordinal)));
    }
}
