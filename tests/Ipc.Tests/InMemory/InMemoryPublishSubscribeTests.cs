using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Tests.InMemory;

public sealed class InMemoryPublishSubscribeTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task PublishAsync_TwoServicesOneWithTwoInstances_EachServiceGetsEveryMessageOnceAndInstancesShare()
    {
        const int count = 20;
        var address = TestSupport.NewAddress("orders");
        var billingOne = new Subscriber();
        var billingTwo = new Subscriber();
        var shipping = new Subscriber();
        using var hostOne = await StartSubscriberAsync(address, "billing", billingOne);
        using var hostTwo = await StartSubscriberAsync(address, "billing", billingTwo);
        using var hostThree = await StartSubscriberAsync(address, "shipping", shipping);
        await using var client = TestSupport.Client("orders", address);
        var channel = client.GetRequiredKeyedService<IChannel>("orders");

        for (var i = 0; i < count; i++)
        {
            await channel.PublishAsync("order-placed", i).AsTask().WaitAsync(Bound);
        }

        await shipping.WaitForAsync(count);
        await Task.WhenAll(billingOne.WaitForAsync(count / 2), billingTwo.WaitForAsync(count / 2));
        Assert.Equal(Enumerable.Range(0, count), shipping.Received);
        Assert.Equal(Enumerable.Range(0, count), billingOne.Received.Concat(billingTwo.Received).Order());
        Assert.Equal(count / 2, billingOne.Received.Count); // the instances take turns
        Assert.Equal(count / 2, billingTwo.Received.Count);
    }

    [Fact]
    public async Task PublishAsync_ServerWithOneWayRouteOfThatName_DoesNotReceiveIt()
    {
        var address = TestSupport.NewAddress("orders");
        var sent = new Subscriber();
        var subscriber = new Subscriber();
        using var sendsHost = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("orders", address)
            .AddServer("orders", s => s.WithServiceName("sends").MapMessage<int>("order-placed", sent.HandleAsync)));
        using var subscriberHost = await StartSubscriberAsync(address, "billing", subscriber);
        await using var client = TestSupport.Client("orders", address);
        var channel = client.GetRequiredKeyedService<IChannel>("orders");

        await channel.PublishAsync("order-placed", 1).AsTask().WaitAsync(Bound);
        await channel.SendAsync("order-placed", 2).AsTask().WaitAsync(Bound);

        // In memory, a server handles its messages in the order they were handed over: had the publish reached the
        // one-way route, it would have arrived before the send.
        await sent.WaitForAsync(1);
        await subscriber.WaitForAsync(1);
        Assert.Equal([2], sent.Received);
        Assert.Equal([1], subscriber.Received);
    }

    [Fact]
    public async Task PublishAsync_TopicNobodySubscribes_CompletesWithoutDelivering()
    {
        var address = TestSupport.NewAddress("orders");
        var subscriber = new Subscriber();
        using var host = await StartSubscriberAsync(address, "billing", subscriber);
        await using var client = TestSupport.Client("orders", address);
        var channel = client.GetRequiredKeyedService<IChannel>("orders");

        await channel.PublishAsync("order-cancelled", 1).AsTask().WaitAsync(Bound);
        await channel.PublishAsync("order-placed", 2).AsTask().WaitAsync(Bound);

        await subscriber.WaitForAsync(1);
        Assert.Equal([2], subscriber.Received);
    }

    private static Task<IHost> StartSubscriberAsync(string address, string service, Subscriber subscriber) =>
        TestSupport.StartServerAsync(ipc =>
        {
            #region subscription
            ipc.AddEndpoint("orders", address)
                .AddServer("orders", s => s
                    .WithServiceName(service) // "billing": its instances share the messages; "shipping" gets its own copy
                    .MapSubscription<int>("order-placed", subscriber.HandleAsync));
            #endregion
        });

    private sealed class Subscriber
    {
        private readonly ConcurrentQueue<int> _received = new();
        private readonly SemaphoreSlim _arrived = new(0);

        public IReadOnlyList<int> Received => [.. _received];

        public ValueTask HandleAsync(int value, IpcContext context, CancellationToken cancellationToken)
        {
            _received.Enqueue(value);
            _arrived.Release();
            return default;
        }

        public async Task WaitForAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Assert.True(await _arrived.WaitAsync(Bound), $"{i} of {count} messages arrived");
            }
        }
    }
}
