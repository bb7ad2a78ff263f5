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

    [Fact]
    public async Task RequestAsync_BrokerStopsWhileWaitingForReply_ThrowsUnavailableAtOnceAndRecoversAfter()
    {
        var broker = await node.BrokerAsync;
        var address = $"{broker.Uri()}?name=lost-{Guid.NewGuid():N}";
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var serverLogs = new RecoveryWatch();
        using var clientLogs = new RecoveryWatch();
        await _hosts.StartServerAsync(address, server => server
            .MapRequest<Order, Order>("hold", async (order, _, cancellationToken) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return order;
            })
            .MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 }),
            logs: serverLogs);
        var services = _hosts.CreateClientServices(address, logs: clientLogs);
        var factory = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services);
        var requests = factory.GetRequestClient(AmqpTestHost.Endpoint);
        var channel = factory.GetChannel(AmqpTestHost.Endpoint);
        var pending = requests.RequestAsync<Order, Order>("hold", new Order(1), new IpcCallOptions { Timeout = TimeSpan.FromMinutes(2) }).AsTask();
        await started.Task.WaitAsync(AmqpTestHost.Bound);
        var timer = System.Diagnostics.Stopwatch.StartNew();

        await broker.StopNodeAsync(0);

        var lost = await Assert.ThrowsAsync<IpcException>(() => pending.WaitAsync(AmqpTestHost.Bound));
        Assert.Equal(IpcErrorCode.Unavailable, lost.ErrorCode);
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(20), $"the pending request failed after {timer.Elapsed}, not when the connection was lost");
        var send = await Assert.ThrowsAsync<IpcException>(() => channel.SendAsync("price", new Order(2)).AsTask().WaitAsync(AmqpTestHost.Bound));
        Assert.Equal(IpcErrorCode.Unavailable, send.ErrorCode);
        Assert.True(send.NotAccepted);

        await broker.StartNodeAsync(0);

        // The server's connection recovers with its queues (until then a new client's request finds no queue), and the
        // first client's with its reply consumer: both say so in their logs.
        await serverLogs.Recovered.WaitAsync(AmqpTestHost.Bound);
        await clientLogs.Recovered.WaitAsync(AmqpTestHost.Bound);
        var recovered = _hosts.CreateClientServices(address);
        var again = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(recovered).GetRequestClient(AmqpTestHost.Endpoint);
        Assert.Equal(new Order(30), await again.RequestAsync<Order, Order>("price", new Order(3)).AsTask().WaitAsync(AmqpTestHost.Bound));
        Assert.Equal(new Order(40), await requests.RequestAsync<Order, Order>("price", new Order(4)).AsTask().WaitAsync(AmqpTestHost.Bound)); // the first client recovered too
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
