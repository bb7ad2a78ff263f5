using Ipc.Resilience;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Polly;

namespace Ipc.Tests.Resilience;

[Trait("Category", "Resilience")]
public sealed class ResilienceSettingsTests
{
    /// <summary>The configuration of issue 3, as written there.</summary>
    internal const string IssueJson = """
        { "Ipc": { "Resilience": { "TotalTimeout": "00:00:10",
                                   "Retry": { "MaxRetryAttempts": 3, "Delay": "00:00:00.100", "BackoffType": "Exponential", "UseJitter": true },
                                   "CircuitBreaker": { "FailureRatio": 0.5, "MinimumThroughput": 10, "SamplingDuration": "00:00:30", "BreakDuration": "00:00:05" },
                                   "AttemptTimeout": "00:00:02" },
                   "Endpoints": { "calculator": { "Address": "pipe://calculator", "Resilience": { "Retry": { "MaxRetryAttempts": 5 } } } } } }
        """;

    private static ResilienceSettings Settings(IConfiguration configuration, Action<IIpcBuilder>? configure = null)
    {
        var services = new ServiceCollection();
        var ipc = services.AddIpc(configuration);
        configure?.Invoke(ipc);
        return services.BuildServiceProvider().GetRequiredService<ResilienceSettings>();
    }

    [Fact]
    public void Get_IssueConfiguration_BindsGlobalAndEndpointKeys()
    {
        var settings = Settings(TestSupport.Json(IssueJson));

        var calculator = settings.Get("calculator", TransportKind.Local);

        Assert.Equal(TimeSpan.FromSeconds(10), calculator.TotalTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), calculator.AttemptTimeout);
        Assert.Equal(5, calculator.Retry.MaxRetryAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(100), calculator.Retry.Delay);
        Assert.Equal(DelayBackoffType.Exponential, calculator.Retry.BackoffType);
        Assert.True(calculator.Retry.UseJitter);
        Assert.Equal(0.5, calculator.CircuitBreaker.FailureRatio);
        Assert.Equal(10, calculator.CircuitBreaker.MinimumThroughput);
        Assert.Equal(TimeSpan.FromSeconds(30), calculator.CircuitBreaker.SamplingDuration);
        Assert.Equal(TimeSpan.FromSeconds(5), calculator.CircuitBreaker.BreakDuration);
        Assert.Equal(3, settings.Get("other", TransportKind.Local).Retry.MaxRetryAttempts);
    }

    [Fact]
    public void Get_EndpointSettings_OverrideGlobalOnesKeyByKey()
    {
        var configuration = TestSupport.Json("""
            { "Ipc": { "Resilience": { "Retry": { "Delay": "00:00:01" } },
                       "Endpoints": { "a": { "Resilience": { "Retry": { "Delay": "00:00:03" } } } } } }
            """);
        var settings = Settings(configuration, ipc => ipc
            .ConfigureResilience("b", r => r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(9))
            .ConfigureResilience(r =>
            {
                r.Retry.MaxRetryAttempts = 7;
                r.Retry.Delay = TimeSpan.FromSeconds(2); // global code runs after global configuration, before the endpoint's own
                r.CircuitBreaker.BreakDuration = TimeSpan.FromSeconds(4);
            }));

        var a = settings.Get("a", TransportKind.Network);
        var b = settings.Get("b", TransportKind.Network);

        Assert.Equal(7, a.Retry.MaxRetryAttempts);
        Assert.Equal(TimeSpan.FromSeconds(3), a.Retry.Delay);
        Assert.Equal(TimeSpan.FromSeconds(4), a.CircuitBreaker.BreakDuration);
        Assert.Equal(TimeSpan.FromSeconds(2), b.Retry.Delay);
        Assert.Equal(TimeSpan.FromSeconds(9), b.CircuitBreaker.BreakDuration);
    }

    [Theory]
    [InlineData(TransportCapabilities.RequestResponse | TransportCapabilities.InProcess, "InProcess", 50, 2)]
    [InlineData(TransportCapabilities.RequestResponse, "Local", 50, 2)]
    [InlineData(TransportCapabilities.RequestResponse | TransportCapabilities.CrossMachine, "Network", 2000, 5)]
    [InlineData(TransportCapabilities.OneWay | TransportCapabilities.CrossMachine | TransportCapabilities.Durable, "Broker", 1000, 30)]
    public void Get_TransportKind_AppliesItsDefaults(TransportCapabilities capabilities, string expectedKind, int delayMs, int breakSeconds)
    {
        var kind = ResilienceDefaults.KindOf(capabilities);
        var options = Settings(TestSupport.Json("{}")).Get("any", kind);

        Assert.Equal(expectedKind, kind.ToString());
        Assert.Equal(kind != TransportKind.InProcess, options.Enabled);
        Assert.Equal(TimeSpan.FromMilliseconds(delayMs), options.Retry.Delay);
        Assert.Equal(TimeSpan.FromSeconds(breakSeconds), options.CircuitBreaker.BreakDuration);
        Assert.Null(options.TotalTimeout);
        Assert.True(ResilienceDefaults.AttemptTimeout(kind) < ResilienceDefaults.TotalTimeout(kind));
    }

    /// <summary>The table "Defaults by transport kind" of docs/resilience.md, row by row.</summary>
    [Theory]
    [InlineData("InProcess", false, 10, 5, 3, 50, 1000, 0.5, 10, 10, 2)]
    [InlineData("Local", true, 10, 5, 3, 50, 1000, 0.5, 10, 10, 2)]
    [InlineData("Network", true, 30, 10, 3, 2000, 10000, 0.1, 100, 30, 5)]
    [InlineData("Broker", true, 60, 20, 5, 1000, 15000, 0.2, 50, 60, 30)]
    public void Get_TransportKind_AppliesTheDocumentedDefaults(
        string kindName, bool enabled, int totalSeconds, int attemptSeconds, int retries, int delayMs, int maxDelayMs,
        double failureRatio, int minimumThroughput, int samplingSeconds, int breakSeconds)
    {
        var kind = Enum.Parse<TransportKind>(kindName);
        var options = Settings(TestSupport.Json("{}")).Get("any", kind);

        Assert.Equal(enabled, options.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(totalSeconds), ResilienceDefaults.TotalTimeout(kind));
        Assert.Equal(TimeSpan.FromSeconds(attemptSeconds), EndpointResilience.EffectiveAttemptTimeout(options, ResilienceDefaults.TotalTimeout(kind), kind));
        Assert.Equal(retries, options.Retry.MaxRetryAttempts);
        Assert.Equal(DelayBackoffType.Exponential, options.Retry.BackoffType);
        Assert.True(options.Retry.UseJitter);
        Assert.Equal(TimeSpan.FromMilliseconds(delayMs), options.Retry.Delay);
        Assert.Equal(TimeSpan.FromMilliseconds(maxDelayMs), options.Retry.MaxDelay);
        Assert.Equal(failureRatio, options.CircuitBreaker.FailureRatio);
        Assert.Equal(minimumThroughput, options.CircuitBreaker.MinimumThroughput);
        Assert.Equal(TimeSpan.FromSeconds(samplingSeconds), options.CircuitBreaker.SamplingDuration);
        Assert.Equal(TimeSpan.FromSeconds(breakSeconds), options.CircuitBreaker.BreakDuration);
        Assert.False(options.Idempotent);
        Assert.Empty(options.IdempotentRoutes);
        Assert.Null(options.PollyTelemetry);
    }
}
