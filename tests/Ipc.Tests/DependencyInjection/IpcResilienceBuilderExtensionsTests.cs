using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Polly;
using Polly.CircuitBreaker;

namespace Ipc.Tests.DependencyInjection;

/// <summary>Configuring resilience in code; the regions are the code shown in docs/resilience.md and docs/testing.md.</summary>
[Trait("Category", "Resilience")]
public sealed class IpcResilienceBuilderExtensionsTests
{
    [Fact]
    public async Task ConfigureResilience_GlobalAndEndpoint_EndpointWins()
    {
        var transport = new ScriptedTransport().FailNext(IpcErrorCode.Unavailable, times: 10, notAccepted: true);
        var services = new ServiceCollection();
        var configuration = TestSupport.Json("""{ "Ipc": { "Endpoints": { "calculator": { "Address": "scripted://calculator" } } } }""");
        #region configure-resilience
        services.AddIpc(configuration)
            .ConfigureResilience(r => r.Retry.MaxRetryAttempts = 5)                      // every endpoint
            .ConfigureResilience("calculator", r => r.Retry.Delay = TimeSpan.Zero);      // one endpoint: wins, key by key
        #endregion
        services.AddIpc().AddScriptedTransport(transport);
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredKeyedService<IRequestClient>("calculator");
        var ex = await Assert.ThrowsAsync<IpcException>(() => client.RequestAsync<int, int>("add", 1).AsTask().WaitAsync(TestSupport.Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Equal(6, transport.Attempts.Count);
    }

    [Fact]
    public async Task AddIpc_InMemoryEndpoint_DefaultsToTotalTimeoutUntilEnabled()
    {
        var configuration = TestSupport.Json("""
            { "Ipc": { "Endpoints": { "plain": { "Address": "inmemory://plain" },
                                      "full": { "Address": "inmemory://full", "Resilience": { "Enabled": true } } } } }
            """);
        await using var provider = new ServiceCollection().AddIpc(configuration).Services.BuildServiceProvider();

        var plain = provider.GetRequiredKeyedService<IRequestClient>("plain");
        var full = provider.GetRequiredKeyedService<IRequestClient>("full");

        Assert.True(plain.Capabilities.HasFlag(TransportCapabilities.InProcess));
        Assert.Null(plain.GetService(typeof(CircuitBreakerStateProvider)));
        Assert.IsType<CircuitBreakerStateProvider>(full.GetService(typeof(CircuitBreakerStateProvider)));
    }

    [Fact]
    public async Task ConfigureResilience_PipelineName_UsesRegisteredPollyPipeline()
    {
        var transport = new ScriptedTransport().FailNext(IpcErrorCode.Unavailable, times: 4, notAccepted: true);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new TimerFakeTimeProvider());
        #region named-pipeline
        services.AddResiliencePipeline("calculator-pipeline", builder => builder
            .AddTimeout(TimeSpan.FromSeconds(10))
            .AddRetry(new IpcRetryStrategyOptions { MaxRetryAttempts = 4, Delay = TimeSpan.Zero })); // Ipc's retry rules, your numbers

        services.AddIpc()
            .AddEndpoint("calculator", "scripted://calculator")
            .ConfigureResilience("calculator", r => r.PipelineName = "calculator-pipeline");
        #endregion
        services.AddIpc().AddScriptedTransport(transport);
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredKeyedService<IRequestClient>("calculator");
        Assert.Equal(1, await client.RequestAsync<int, int>("echo", 1).AsTask().WaitAsync(TestSupport.Bound));
        Assert.Equal(5, transport.Attempts.Count);
    }

    [Fact]
    public async Task GetService_CircuitBreakerStateProvider_ReportsOpenCircuit()
    {
        var transport = new ScriptedTransport().FailNext(IpcErrorCode.Unavailable, times: 2);
        var services = new ServiceCollection();
        services.AddIpc()
            .AddScriptedTransport(transport)
            .AddEndpoint("calculator", "scripted://calculator")
            .ConfigureResilience("calculator", r =>
            {
                r.Retry.MaxRetryAttempts = 0;
                r.CircuitBreaker.MinimumThroughput = 2;
            });
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredKeyedService<IRequestClient>("calculator");
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<IpcException>(() => client.RequestAsync<int, int>("echo", i).AsTask().WaitAsync(TestSupport.Bound));
        }

        #region health
        var breaker = (CircuitBreakerStateProvider?)client.GetService(typeof(CircuitBreakerStateProvider));
        var healthy = breaker is null || breaker.CircuitState is CircuitState.Closed or CircuitState.HalfOpen;
        #endregion

        Assert.False(healthy);
    }

    [Fact]
    public async Task UseDuplicateFilter_RepeatedMessageId_HandlerRunsOnce()
    {
        var address = TestSupport.NewAddress("orders");
        var placed = 0;
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        #region duplicate-filter
        builder.Services.AddIpc(builder.Configuration)
            .AddServer("orders", server => server
                .UseDuplicateFilter(capacity: 4096) // the last 4096 message ids
                .MapRequest<int, int>("place", order => Interlocked.Increment(ref placed)));
        #endregion
        builder.Services.AddIpc().AddEndpoint("orders", address);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestSupport.Bound);
        var client = host.Services.GetRequiredKeyedService<IRequestClient>("orders");
        var call = new IpcCallOptions { MessageId = IpcMessage.NewMessageId() };

        var first = await client.RequestAsync<int, int>("place", 7, call).AsTask().WaitAsync(TestSupport.Bound);
        var again = await client.RequestAsync<int, int>("place", 7, call).AsTask().WaitAsync(TestSupport.Bound);

        Assert.Equal(1, first);
        Assert.Equal(1, again);
        Assert.Equal(1, placed);
        await host.StopAsync().WaitAsync(TestSupport.Bound);
    }

    [Fact]
    public async Task ScriptedTransport_TransientFailures_RetriedWithBackoffOnFakeTime()
    {
        #region scripted-transport
        var time = new TimerFakeTimeProvider();
        var transport = new ScriptedTransport().FailNext(IpcErrorCode.Unavailable, times: 2, notAccepted: true); // never reached the server: retried
        var services = new ServiceCollection().AddSingleton<TimeProvider>(time);
        services.AddIpc()
            .AddScriptedTransport(transport)
            .AddEndpoint("calculator", "scripted://calculator")
            .ConfigureResilience("calculator", r =>
            {
                r.Retry.Delay = TimeSpan.FromSeconds(1);
                r.Retry.BackoffType = DelayBackoffType.Constant;
                r.Retry.UseJitter = false;
            });
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredKeyedService<IRequestClient>("calculator");

        var call = client.RequestAsync<int, int>("echo", 42).AsTask();
        for (var retry = 0; retry < 2; retry++)
        {
            await time.WaitForTimerAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15)); // until the retry delay starts
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(42, await call.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(3, transport.Attempts.Count);
        #endregion
    }
}
