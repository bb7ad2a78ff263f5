using System.Globalization;
using Ipc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;

namespace Ipc.Tests.Resilience;

[Trait("Category", "Resilience")]
public sealed class ResilienceValidatorTests
{
    private static OptionsValidationException? Validate(IConfiguration configuration, Action<IServiceCollection>? services = null)
    {
        var collection = new ServiceCollection();
        services?.Invoke(collection);
        collection.AddIpc(configuration).AddScriptedTransport(new ScriptedTransport());
        using var provider = collection.BuildServiceProvider();
        try
        {
            _ = provider.GetRequiredService<IOptions<IpcOptions>>().Value;
            return null;
        }
        catch (OptionsValidationException ex)
        {
            return ex;
        }
    }

    private static IConfiguration Endpoint(string resilienceJson, string endpointExtra = "") => TestSupport.Json($$"""
        { "Ipc": { "Resilience": { {{resilienceJson}} },
                   "Endpoints": { "svc": { "Address": "scripted://svc" {{endpointExtra}} } } } }
        """);

    [Fact]
    public void Validate_IssueConfiguration_Succeeds()
    {
        var json = ResilienceSettingsTests.IssueJson.Replace("pipe://calculator", "scripted://calculator", StringComparison.Ordinal);

        Assert.Null(Validate(TestSupport.Json(json)));
    }

    [Theory]
    [InlineData("\"AttemptTimeout\": \"00:00:20\", \"TotalTimeout\": \"00:00:10\"", "Ipc:Resilience:AttemptTimeout is 00:00:20: it must be shorter than the total timeout, 00:00:10 (Ipc:Resilience:TotalTimeout)")]
    [InlineData("\"AttemptTimeout\": \"00:00:20\"", "Ipc:Resilience:AttemptTimeout is 00:00:20: it must be shorter than the total timeout, 00:00:10 (the default of local transports)")]
    [InlineData("\"TotalTimeout\": \"00:00:00.001\"", "Ipc:Resilience:TotalTimeout is 00:00:00.0010000: it must be between")]
    [InlineData("\"AttemptTimeout\": \"2.00:00:00\", \"TotalTimeout\": \"-00:00:00.001\"", "Ipc:Resilience:AttemptTimeout is 2.00:00:00: it must be between")]
    [InlineData("\"Retry\": { \"MaxRetryAttempts\": -1 }", "Ipc:Resilience:Retry:MaxRetryAttempts is -1: it must be 0 (no retries) or more.")]
    [InlineData("\"Retry\": { \"Delay\": \"2.00:00:00\" }", "Ipc:Resilience:Retry:Delay is 2.00:00:00:")]
    [InlineData("\"Retry\": { \"MaxRetryAttempts\": \"lots\" }", "Ipc:Endpoints:svc:Resilience could not be read:")]
    [InlineData("\"CircuitBreaker\": { \"FailureRatio\": 1.5 }", "Ipc:Resilience:CircuitBreaker:FailureRatio is 1.5:")]
    [InlineData("\"CircuitBreaker\": { \"MinimumThroughput\": 1 }", "Ipc:Resilience:CircuitBreaker:MinimumThroughput is 1:")]
    [InlineData("\"CircuitBreaker\": { \"SamplingDuration\": \"00:00:00.100\" }", "Ipc:Resilience:CircuitBreaker:SamplingDuration is 00:00:00.1000000:")]
    [InlineData("\"CircuitBreaker\": { \"BreakDuration\": \"00:00:00.100\" }", "Ipc:Resilience:CircuitBreaker:BreakDuration is 00:00:00.1000000:")]
    [InlineData("\"Chaos\": { \"Fault\": { \"Enabled\": true, \"InjectionRate\": 2 } }", "Ipc:Resilience:Chaos:Fault:InjectionRate is 2:")]
    [InlineData("\"PipelineName\": \"missing\"", "Ipc:Resilience:PipelineName 'missing' is not a registered resilience pipeline")]
    public void Validate_BadGlobalValue_FailsNamingTheKey(string resilienceJson, string expected)
    {
        var ex = Validate(Endpoint(resilienceJson));

        Assert.NotNull(ex);
        Assert.Contains(ex.Failures, f => f.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_InACultureThatWritesNumbersOtherwise_QuotesValuesAsConfigurationWritesThem()
    {
        // As Swedish writes numbers (1,5 and a minus sign of its own, U+2212), built by hand so that it exists without ICU
        // too: a message in either form would quote a value the configuration file does not hold.
        var swedishNumbers = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        swedishNumbers.NumberFormat.NumberDecimalSeparator = ",";
        swedishNumbers.NumberFormat.NegativeSign = "\u2212";
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = swedishNumbers;
        OptionsValidationException? ex;
        try
        {
            ex = Validate(Endpoint("\"CircuitBreaker\": { \"FailureRatio\": 1.5 }, \"Retry\": { \"MaxRetryAttempts\": -1 }", ", \"MaxMessageSize\": -1"));
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }

        Assert.NotNull(ex);
        Assert.Contains(ex.Failures, f => f.StartsWith("Ipc:Resilience:CircuitBreaker:FailureRatio is 1.5:", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Ipc:Resilience:Retry:MaxRetryAttempts is -1:", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Ipc:Endpoints:svc:MaxMessageSize is -1:", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_BadEndpointValue_NamesTheEndpointKey()
    {
        var ex = Validate(Endpoint("\"Retry\": { \"MaxRetryAttempts\": 2 }", ", \"Resilience\": { \"Retry\": { \"MaxRetryAttempts\": -3 } }"));

        Assert.NotNull(ex);
        Assert.Contains("Ipc:Endpoints:svc:Resilience:Retry:MaxRetryAttempts is -3: it must be 0 (no retries) or more.", ex.Failures);
    }

    [Theory]
    [InlineData("\"Retry\": { \"MaxRetryAttempts\": \"lots\" }", "", "Ipc:Resilience:Retry:MaxRetryAttempts")]
    [InlineData("", ", \"Resilience\": { \"CircuitBreaker\": { \"BreakDuration\": \"soon\" } }", "Ipc:Endpoints:svc:Resilience:CircuitBreaker:BreakDuration")]
    public void Validate_ValueThatDoesNotConvert_NamesItsKey(string resilienceJson, string endpointExtra, string key)
    {
        var ex = Validate(Endpoint(resilienceJson, endpointExtra));

        Assert.NotNull(ex);
        Assert.Contains(ex.Failures, f => f.Contains($"'{key}'", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_AttemptTimeoutNotShorterThanRequestTimeout_NamesRequestTimeout()
    {
        var ex = Validate(Endpoint("\"AttemptTimeout\": \"00:00:05\"", ", \"RequestTimeout\": \"00:00:05\""));

        Assert.NotNull(ex);
        Assert.Contains("Ipc:Resilience:AttemptTimeout is 00:00:05: it must be shorter than the total timeout, 00:00:05 (Ipc:Endpoints:svc:RequestTimeout), or one attempt could use up the whole call and leave no time to retry.", ex.Failures);
    }

    [Fact]
    public void Validate_BadValueSetInCodeForEveryEndpoint_NamesTheOptionAndSaysItWasSetInCode()
    {
        var ex = Validate(Endpoint(""), services => services.AddIpc().ConfigureResilience(r => r.Retry.MaxRetryAttempts = -1));

        Assert.NotNull(ex);
        Assert.Contains("IpcResilienceOptions.Retry.MaxRetryAttempts (set in code by ConfigureResilience(configure), for every endpoint) is -1: it must be 0 (no retries) or more.", ex.Failures);
        Assert.DoesNotContain(ex.Failures, f => f.Contains("Ipc:Resilience:Retry", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_BadValueSetInCodeForOneEndpoint_NamesTheOptionAndTheEndpoint()
    {
        // Configuration sets a good value for every endpoint; code changes it for one: the code is what to fix.
        var ex = Validate(
            Endpoint("\"CircuitBreaker\": { \"FailureRatio\": 0.5 }"),
            services => services.AddIpc().ConfigureResilience("svc", r => r.CircuitBreaker.FailureRatio = 1.5));

        Assert.NotNull(ex);
        Assert.Contains(ex.Failures, f => f.StartsWith("IpcResilienceOptions.CircuitBreaker.FailureRatio of endpoint 'svc' (set in code by ConfigureResilience(\"svc\", configure)) is 1.5:", StringComparison.Ordinal));
        Assert.DoesNotContain(ex.Failures, f => f.Contains("Ipc:Resilience:CircuitBreaker", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_BadConfigurationValueNotChangedByCode_StillNamesTheKey()
    {
        var ex = Validate(
            Endpoint("", ", \"Resilience\": { \"Retry\": { \"MaxRetryAttempts\": -3 } }"),
            services => services.AddIpc().ConfigureResilience(r => r.Retry.Delay = TimeSpan.Zero));

        Assert.NotNull(ex);
        Assert.Contains("Ipc:Endpoints:svc:Resilience:Retry:MaxRetryAttempts is -3: it must be 0 (no retries) or more.", ex.Failures);
    }

    [Fact]
    public void Validate_AttemptTimeoutSetInCodeNotShorterThanConfiguredTotal_NamesBothSources()
    {
        var ex = Validate(
            Endpoint("\"TotalTimeout\": \"00:00:02\""),
            services => services.AddIpc().ConfigureResilience("svc", r => r.AttemptTimeout = TimeSpan.FromSeconds(3)));

        Assert.NotNull(ex);
        Assert.Contains("IpcResilienceOptions.AttemptTimeout of endpoint 'svc' (set in code by ConfigureResilience(\"svc\", configure)) is 00:00:03: it must be shorter than the total timeout, 00:00:02 (Ipc:Resilience:TotalTimeout), or one attempt could use up the whole call and leave no time to retry.", ex.Failures);
    }

    [Fact]
    public void Validate_BadValueSetInCodeWithoutConfiguration_NamesNoConfigurationKey()
    {
        var collection = new ServiceCollection();
        collection.AddIpc()
            .AddScriptedTransport(new ScriptedTransport())
            .AddEndpoint("svc", "scripted://svc")
            .ConfigureResilience("svc", r => r.PipelineName = "missing");
        using var provider = collection.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<IpcOptions>>().Value);

        Assert.Contains(ex.Failures, f => f.StartsWith("IpcResilienceOptions.PipelineName of endpoint 'svc' (set in code by ConfigureResilience(\"svc\", configure)) 'missing' is not a registered resilience pipeline.", StringComparison.Ordinal));
        Assert.DoesNotContain(ex.Failures, f => f.Contains("Ipc:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Validate_AttemptTimeoutNotShorterThanRequestTimeoutSetInCode_SaysTheRequestTimeoutWasSetInCode(bool configured)
    {
        // The configuration's RequestTimeout, if any, is replaced in code: the code is what to fix.
        var ex = Validate(
            Endpoint("\"AttemptTimeout\": \"00:00:05\"", configured ? ", \"RequestTimeout\": \"00:00:30\"" : ""),
            services => services.AddIpc().ConfigureEndpoint("svc", e => e.RequestTimeout = TimeSpan.FromSeconds(5)));

        Assert.NotNull(ex);
        Assert.Contains("Ipc:Resilience:AttemptTimeout is 00:00:05: it must be shorter than the total timeout, 00:00:05 (IpcEndpointOptions.RequestTimeout of endpoint 'svc', set in code), or one attempt could use up the whole call and leave no time to retry.", ex.Failures);
    }

    [Fact]
    public void Validate_RegisteredPipelineName_Succeeds()
    {
        var ex = Validate(
            Endpoint("\"PipelineName\": \"mine\""),
            services => services.AddResiliencePipeline("mine", builder => builder.AddTimeout(TimeSpan.FromSeconds(1))));

        Assert.Null(ex);
    }
}
