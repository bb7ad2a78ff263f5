using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Tests.HealthChecks;

public sealed class IpcHealthChecksTests
{
    private const string Endpoint = "orders";
    private static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task CheckHealthAsync_ClientEndpointReachable_Healthy()
    {
        var address = TestSupport.NewAddress("health");
        using var server = await StartServerAsync(address, release: null);
        await using var client = Client(address, new FakeTimeProvider());

        var entry = await CheckAsync(client, $"ipc:{Endpoint}");

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal("Closed", entry.Data["circuit"]);
        Assert.Equal(true, entry.Data["probed"]);
    }

    [Fact]
    public async Task CheckHealthAsync_ClientEndpointWithoutServer_UnhealthyWithCause()
    {
        await using var client = Client(TestSupport.NewAddress("health"), new FakeTimeProvider());

        var entry = await CheckAsync(client, $"ipc:{Endpoint}");

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("Closed", entry.Data["circuit"]);
        Assert.Equal(IpcErrorCode.Unavailable, Assert.IsType<IpcException>(entry.Exception).ErrorCode);
    }

    [Fact]
    public async Task CheckHealthAsync_BreakerOpensThenHalfOpensThenCloses_UnhealthyDegradedHealthy()
    {
        var time = new FakeTimeProvider();
        var address = TestSupport.NewAddress("health");
        await using var client = Client(address, time);
        var requests = client.GetRequiredKeyedService<IRequestClient>(Endpoint);
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<string, string>("slow", "x").AsTask().WaitAsync(TestSupport.Bound)); // no server yet
        }

        var open = await CheckAsync(client, $"ipc:{Endpoint}");
        Assert.Equal(HealthStatus.Unhealthy, open.Status);
        Assert.Equal("Open", open.Data["circuit"]);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = await StartServerAsync(address, (started, release));
        time.Advance(BreakDuration + TimeSpan.FromSeconds(1));
        var probe = requests.RequestAsync<string, string>("slow", "x").AsTask(); // the breaker lets it through, half-open
        await started.Task.WaitAsync(TestSupport.Bound);

        var halfOpen = await CheckAsync(client, $"ipc:{Endpoint}");
        Assert.Equal(HealthStatus.Degraded, halfOpen.Status);
        Assert.Equal("HalfOpen", halfOpen.Data["circuit"]);

        release.SetResult();
        Assert.Equal("x", await probe.WaitAsync(TestSupport.Bound));
        var closed = await CheckAsync(client, $"ipc:{Endpoint}");
        Assert.Equal(HealthStatus.Healthy, closed.Status);
        Assert.Equal("Closed", closed.Data["circuit"]);
    }

    [Fact]
    public async Task CheckHealthAsync_ServerEndpoint_HealthyWhileListeningUnhealthyOnceStopped()
    {
        var address = TestSupport.NewAddress("health");
        using var server = await StartServerAsync(address, release: null);
        var health = server.Services.GetRequiredService<HealthCheckService>();

        var listening = (await health.CheckHealthAsync().WaitAsync(TestSupport.Bound)).Entries[$"ipc-server:{Endpoint}"];
        await server.StopAsync().WaitAsync(TestSupport.Bound);
        var stopped = (await health.CheckHealthAsync().WaitAsync(TestSupport.Bound)).Entries[$"ipc-server:{Endpoint}"];

        Assert.Equal(HealthStatus.Healthy, listening.Status);
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
        Assert.Contains("does not listen", stopped.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddIpc_Tags_GivenToEveryCheck()
    {
        await using var client = Client(TestSupport.NewAddress("health"), new FakeTimeProvider(), tags: ["ready"]);

        var report = await client.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains("ready")).WaitAsync(TestSupport.Bound);

        Assert.Equal([$"ipc:{Endpoint}"], report.Entries.Keys);
    }

    [Fact]
    public async Task CheckHealthAsync_TransportWithoutProbe_ReportedByItsBreakerAloneWithTheAddressRedacted()
    {
        var transport = new ScriptedTransport();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddIpc().AddScriptedTransport(transport).AddEndpoint(Endpoint, $"scripted://app:s3cret@{Endpoint}");
        services.AddHealthChecks().AddIpc();
        await using var client = services.BuildServiceProvider();

        var entry = await CheckAsync(client, $"ipc:{Endpoint}");

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal(false, entry.Data["probed"]);
        Assert.Equal("Closed", entry.Data["circuit"]);
        Assert.Equal(Endpoint, entry.Data["endpoint"]);
        Assert.Equal($"scripted://app:***@{Endpoint}", entry.Data["address"]);
        Assert.DoesNotContain("s3cret", entry.Description, StringComparison.Ordinal);
        Assert.Empty(transport.Attempts); // the check made no call
    }

    private static ServiceProvider Client(string address, TimeProvider time, string[]? tags = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(time);
        services.AddLogging();
        services.AddIpc().AddEndpoint(Endpoint, address).ConfigureResilience(Endpoint, r =>
        {
            r.Enabled = true;
            r.Retry.MaxRetryAttempts = 0;
            r.CircuitBreaker.FailureRatio = 0.5;
            r.CircuitBreaker.MinimumThroughput = 2;
            r.CircuitBreaker.BreakDuration = BreakDuration;
        });
        services.AddHealthChecks().AddIpc(tags ?? []);
        return services.BuildServiceProvider();
    }

    private static Task<IHost> StartServerAsync(string address, (TaskCompletionSource Started, TaskCompletionSource Release)? release) =>
        TestSupport.StartServerAsync(
            ipc => ipc.AddEndpoint(Endpoint, address).AddServer(Endpoint, s => s.MapRequest<string, string>("slow", async (text, _, ct) =>
            {
                if (release is { } r)
                {
                    r.Started.TrySetResult();
                    await r.Release.Task.WaitAsync(ct);
                }

                return text;
            })),
            services => services.AddHealthChecks().AddIpc());

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider services, string name)
    {
        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(TestSupport.Bound);
        return report.Entries[name];
    }
}
