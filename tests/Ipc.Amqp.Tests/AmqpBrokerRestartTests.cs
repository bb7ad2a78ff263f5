using Ipc.TestUtils;
using Xunit.Abstractions;

namespace Ipc.Amqp.Tests;

/// <summary>A node of the test's own, restarted while durable messages flow: nothing is lost.</summary>
public sealed class AmqpBrokerRestartTests(PrivateNodeFixture node, ITestOutputHelper output) : IClassFixture<PrivateNodeFixture>, IAsyncLifetime
{
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Fact]
    public async Task SendAsync_BrokerRestartsDuringTenThousandDurableMessages_EveryMessageIsHandled()
    {
        var run = await RunAsync(duplicateFilter: false);

        output.WriteLine($"{DurableStreamRun.Count} messages, {run.Deliveries} deliveries: {run.Duplicates} duplicates (redelivered or resent around the restart)");
        Assert.True(run.Deliveries >= DurableStreamRun.Count);
    }

    [Fact]
    public async Task SendAsync_BrokerRestartsWithDuplicateFilterOn_EveryMessageIsHandledOnce()
    {
        var run = await RunAsync(duplicateFilter: true);

        output.WriteLine($"{DurableStreamRun.Count} messages, {run.Deliveries} deliveries with the duplicate filter on");
        Assert.Equal(0, run.Duplicates);
    }

    private async Task<DurableStreamRun> RunAsync(bool duplicateFilter)
    {
        var broker = await node.BrokerAsync;
        var address = $"{broker.Uri()}?name=restart-{Guid.NewGuid():N}";
        var run = new DurableStreamRun();
        await _hosts.StartServerAsync(address, server => run.Map(server, duplicateFilter));
        var client = _hosts.CreateClient(address, resilience: AmqpTestHost.RideOutFailover);

        await run.RunAsync(client, async () =>
        {
            await broker.StopNodeAsync(0);
            await broker.StartNodeAsync(0);
        });

        return run;
    }
}

/// <summary>A private one-node broker for one test class.</summary>
public sealed class PrivateNodeFixture : IAsyncLifetime
{
    private readonly Lazy<Task<RabbitBroker>> _broker = new(() => RabbitBroker.StartAsync(1));

    public Task<RabbitBroker> BrokerAsync => _broker.Value;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_broker.IsValueCreated)
        {
            await (await _broker.Value).DisposeAsync();
        }
    }
}
