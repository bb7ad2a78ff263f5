using Ipc.TestUtils;
using Xunit.Abstractions;

namespace Ipc.Amqp.Tests;

/// <summary>A three-node cluster on loopback: a node stops while durable messages flow, clients fail over, nothing is lost.</summary>
public sealed class AmqpClusterTests(ClusterFixture cluster, ITestOutputHelper output) : IClassFixture<ClusterFixture>, IAsyncLifetime
{
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Fact]
    public async Task SendAsync_NodeStopsDuringTenThousandDurableMessages_ClientsFailOverAndEveryMessageIsHandled()
    {
        var broker = await cluster.BrokerAsync;
        var address = $"{broker.Uri(0)}?name=cluster-{Guid.NewGuid():N}";
        void Nodes(AmqpTransportOptions options)
        {
            options.Hosts.Add(broker.HostAndPort(1));
            options.Hosts.Add(broker.HostAndPort(2));
        }

        var run = new DurableStreamRun();
        await _hosts.StartServerAsync(address, server => run.Map(server, duplicateFilter: false), Nodes);
        var client = _hosts.CreateClient(address, Nodes, AmqpTestHost.RideOutFailover);

        await run.RunAsync(client, () => broker.StopNodeAsync(0)); // the node both are connected to: they move to the next one

        output.WriteLine($"{DurableStreamRun.Count} messages, {run.Deliveries} deliveries: {run.Duplicates} duplicates (redelivered or resent around the failover)");
        Assert.True(run.Deliveries >= DurableStreamRun.Count);
    }
}

/// <summary>A private three-node cluster for one test class.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly Lazy<Task<RabbitBroker>> _broker = new(() => RabbitBroker.StartAsync(3));

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
