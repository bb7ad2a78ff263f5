using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Amqp.Tests;

/// <summary>What the broker adds to the conformance suites: subscribing services, competing consumers, NoHandler from the broker, expiry and dead-lettering.</summary>
public sealed class AmqpDeliveryTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = AmqpTestHost.Bound;
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Fact]
    public async Task PublishAsync_TwoServicesOneRunningTwoInstances_EachServiceGetsEveryMessageOnce()
    {
        const int count = 200;
        var address = AmqpTestAddresses.New("pubsub");
        var billing = new ConcurrentDictionary<int, int>();
        var billingInstances = new ConcurrentDictionary<int, int>();
        var shipping = new ConcurrentDictionary<int, int>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Arrived()
        {
            if (billing.Count == count && shipping.Count == count)
            {
                done.TrySetResult();
            }
        }

        for (var instance = 0; instance < 2; instance++)
        {
            var id = instance;
            await _hosts.StartServerAsync(address, s => s.WithServiceName("billing").MapSubscription<Order>("order-placed", (order, _, _) =>
            {
                billing.AddOrUpdate(order.Id, 1, (_, n) => n + 1);
                billingInstances.AddOrUpdate(id, 1, (_, n) => n + 1);
                Arrived();
                return ValueTask.CompletedTask;
            }));
        }

        await _hosts.StartServerAsync(address, s => s.WithServiceName("shipping").MapSubscription<Order>("order-placed", (order, _, _) =>
        {
            shipping.AddOrUpdate(order.Id, 1, (_, n) => n + 1);
            Arrived();
            return ValueTask.CompletedTask;
        }));
        var client = _hosts.CreateClient(address);

        await Task.WhenAll(Enumerable.Range(0, count).Select(i => client.PublishAsync("order-placed", new Order(i)).AsTask())).WaitAsync(Bound);

        await done.Task.WaitAsync(Bound);
        Assert.Equal(Enumerable.Range(0, count), billing.Keys.Order());
        Assert.All(billing.Values, n => Assert.Equal(1, n));
        Assert.Equal(Enumerable.Range(0, count), shipping.Keys.Order());
        Assert.All(shipping.Values, n => Assert.Equal(1, n));
        Assert.Equal(2, billingInstances.Count); // both instances of billing took a share
        Assert.Equal(count, billingInstances.Values.Sum());
    }

    /// <summary>
    /// A topic with an AMQP wildcard word (<c>*</c>, <c>#</c>) would bind the service's queue to other topics too, whose
    /// messages no handler maps (the dispatcher matches routes exactly, on every transport): each would go to the
    /// dead-letter queue as NoHandler. The server refuses such a subscription at start, saying why.
    /// </summary>
    [Theory]
    [InlineData("orders.*")]
    [InlineData("#")]
    [InlineData("orders.#.eu")]
    public async Task StartAsync_SubscriptionTopicWithAWildcardWord_FailsWithNotSupportedNamingIt(string topic)
    {
        var address = AmqpTestAddresses.New("wildcard");

        var ex = await Assert.ThrowsAsync<IpcException>(() => _hosts.StartServerAsync(address, s => s.MapSubscription<Order>(topic, (_, _, _) => ValueTask.CompletedTask)));

        Assert.Equal(IpcErrorCode.NotSupported, ex.ErrorCode);
        Assert.Contains($"'{topic}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("wildcard", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A <c>*</c> or <c>#</c> inside a word is no wildcard in AMQP: such a topic is subscribed to as it is.</summary>
    [Fact]
    public async Task PublishAsync_TopicWithAStarInsideAWord_IsDelivered()
    {
        var address = AmqpTestAddresses.New("starword");
        var arrived = new TaskCompletionSource<Order>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.MapSubscription<Order>("orders.a*b#", (order, _, _) =>
        {
            arrived.TrySetResult(order);
            return ValueTask.CompletedTask;
        }));
        var client = _hosts.CreateClient(address);

        await client.PublishAsync("orders.a*b#", new Order(7)).AsTask().WaitAsync(Bound);

        Assert.Equal(7, (await arrived.Task.WaitAsync(Bound)).Id);
    }

    [Fact]
    public async Task SendAsync_TwoInstancesOfOneServer_CompeteForTheRoutesQueue()
    {
        const int count = 200;
        var address = AmqpTestAddresses.New("competing");
        var handled = new ConcurrentDictionary<int, int>();
        var perInstance = new int[2];
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (var instance = 0; instance < 2; instance++)
        {
            var id = instance;
            await _hosts.StartServerAsync(address, s => s.MapMessage<Order>("ship", async (order, _, cancellationToken) =>
            {
                await Task.Yield();
                handled.AddOrUpdate(order.Id, 1, (_, n) => n + 1);
                Interlocked.Increment(ref perInstance[id]);
                if (handled.Count == count)
                {
                    done.TrySetResult();
                }
            }));
        }

        var client = _hosts.CreateClient(address);

        await Task.WhenAll(Enumerable.Range(0, count).Select(i => client.SendAsync("ship", new Order(i)).AsTask())).WaitAsync(Bound);

        await done.Task.WaitAsync(Bound);
        Assert.Equal(Enumerable.Range(0, count), handled.Keys.Order());
        Assert.All(handled.Values, n => Assert.Equal(1, n));
        Assert.All(perInstance, n => Assert.True(n > 0, $"one instance handled nothing: {perInstance[0]} and {perInstance[1]}"));
    }

    [Fact]
    public async Task RequestAsync_NoServerDeclaredTheQueue_ThrowsNoHandlerAtOnce()
    {
        var address = AmqpTestAddresses.New("unrouted");
        var services = _hosts.CreateClientServices(address);
        var factory = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services);
        var requests = factory.GetRequestClient(AmqpTestHost.Endpoint);
        var channel = factory.GetChannel(AmqpTestHost.Endpoint);
        var timer = Stopwatch.StartNew();

        var request = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<Order, Order>("price", new Order(1), new IpcCallOptions { Timeout = TimeSpan.FromSeconds(30) }).AsTask().WaitAsync(Bound));
        var send = await Assert.ThrowsAsync<IpcException>(() => channel.SendAsync("ship", new Order(1)).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.NoHandler, request.ErrorCode);
        Assert.Contains("price", request.Message, StringComparison.Ordinal);
        Assert.Equal(IpcErrorCode.NoHandler, send.ErrorCode);
        Assert.True(send.NotAccepted);
        Assert.True(timer.Elapsed < TimeSpan.FromSeconds(10), $"NoHandler took {timer.Elapsed}, as if it had waited for the timeout");
    }

    [Fact]
    public async Task RequestAsync_WrongPasswordInConfiguration_ThrowsUnauthorized()
    {
        var address = AmqpTestAddresses.New("login");
        var services = _hosts.CreateClientServices(address, amqp: o => o.Password = "not-the-password");
        var requests = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);

        var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<Order, Order>("price", new Order(1)).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains("Password", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_ExpiresInTheQueue_IsNotHandled()
    {
        var address = AmqpTestAddresses.New("expiry");
        var slowCalls = 0;
        void Map(IpcServerBuilder s) => s
            .MapRequest<Order, Order>("slow", (order, _, _) =>
            {
                Interlocked.Increment(ref slowCalls);
                return ValueTask.FromResult(order);
            })
            .MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 });
        var first = await _hosts.StartServerAsync(address, Map); // declares the request queue
        await first.StopAsync().WaitAsync(Bound);
        var services = _hosts.CreateClientServices(address);
        var requests = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);

        await Assert.ThrowsAsync<IpcTimeoutException>(() => requests.RequestAsync<Order, Order>("slow", new Order(1), new IpcCallOptions { Timeout = TimeSpan.FromMilliseconds(500) }).AsTask().WaitAsync(Bound));
        await using (var broker = await RawAmqp.ConnectAsync(address))
        {
            await broker.WaitForEmptyAsync(AmqpTopology.RequestQueue(RawAmqp.NameOf(address)), Bound); // the broker dropped it at its expiration
        }

        await _hosts.StartServerAsync(address, Map);

        Assert.Equal(new Order(70), await requests.RequestAsync<Order, Order>("price", new Order(7)).AsTask().WaitAsync(Bound));
        Assert.Equal(0, Volatile.Read(ref slowCalls));
    }

    [Fact]
    public async Task RequestAsync_LateReplyOfATimedOutCallWithTheSameMessageId_DoesNotCompleteTheNextCall()
    {
        // A caller reuses a message id (a retry keeps it; callers may set it). The first call times out; its reply comes
        // while the second call with that id waits, and must not be taken for the second call's reply. With a prefetch
        // of 1 the server takes the second request only after it sent the first reply, so that reply surely comes first.
        var address = AmqpTestAddresses.New("late-reply");
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(
            address,
            s => s
                .MapRequest<Order, Order>("slow", async (order, _, _) =>
                {
                    firstStarted.TrySetResult();
                    await releaseFirst.Task; // ignores its token: it answers after the caller gave up
                    return order with { Id = order.Id * 100 };
                })
                .MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 }),
            amqp: o => o.Prefetch = 1);
        var services = _hosts.CreateClientServices(address);
        var requests = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);

        try
        {
            var first = requests.RequestAsync<Order, Order>("slow", new Order(1), new IpcCallOptions { MessageId = "same-id-0001", Timeout = TimeSpan.FromMilliseconds(500) }).AsTask();
            await firstStarted.Task.WaitAsync(Bound);
            await Assert.ThrowsAsync<IpcTimeoutException>(() => first.WaitAsync(Bound));

            var second = requests.RequestAsync<Order, Order>("price", new Order(2), new IpcCallOptions { MessageId = "same-id-0001", Timeout = TimeSpan.FromSeconds(20) }).AsTask();
            releaseFirst.TrySetResult();

            Assert.Equal(new Order(20), await second.WaitAsync(Bound));
        }
        finally
        {
            releaseFirst.TrySetResult();
        }
    }

    [Fact]
    public async Task RequestAsync_WaitedInTheQueue_HandlerGetsOnlyTheTimeLeft()
    {
        // The broker does not count expiration down while a message waits: a request sent with 60 s that waited 20 s in
        // the queue gave its handler 60 s again. One clock, shared by client and server, stands for time passing.
        var address = AmqpTestAddresses.New("queue-wait");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var seen = new TaskCompletionSource<TimeSpan?>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Map(IpcServerBuilder s) => s.MapRequest<Order, Order>("price", (order, context, _) =>
        {
            seen.TrySetResult(context.Message.Timeout);
            return ValueTask.FromResult(order with { Id = order.Id * 10 });
        });
        var first = await _hosts.StartServerAsync(address, Map); // declares the request queue
        await first.StopAsync().WaitAsync(Bound);
        var services = _hosts.CreateClientServices(address, configure: s => s.AddSingleton<TimeProvider>(time));
        var requests = services.GetRequiredService<IIpcClientFactory>().GetRequestClient(AmqpTestHost.Endpoint);

        var call = requests.RequestAsync<Order, Order>("price", new Order(3), new IpcCallOptions { Timeout = TimeSpan.FromSeconds(60) }).AsTask();
        await using (var broker = await RawAmqp.ConnectAsync(address))
        {
            await broker.WaitForMessagesAsync(AmqpTopology.RequestQueue(RawAmqp.NameOf(address)), 1, Bound);
        }

        time.Advance(TimeSpan.FromSeconds(20));
        await _hosts.StartServerAsync(address, Map, services: s => s.AddSingleton<TimeProvider>(time));

        Assert.Equal(new Order(30), await call.WaitAsync(Bound));
        var left = await seen.Task.WaitAsync(Bound);
        Assert.NotNull(left);
        Assert.InRange(left.Value, TimeSpan.FromSeconds(39), TimeSpan.FromSeconds(40));
    }

    [Fact]
    public async Task RequestAsync_ArrivesAfterItsDeadline_IsAnsweredTimeoutWithoutRunningTheHandler()
    {
        // The server's clock is a minute ahead of the client's: as the server sees it, the 20 s request waited a minute
        // in the queue. It ran the handler with 20 s of its own.
        var address = AmqpTestAddresses.New("past-deadline");
        var runs = 0;
        var serverTime = new FakeTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1));
        await _hosts.StartServerAsync(
            address,
            s => s.MapRequest<Order, Order>("price", order =>
            {
                Interlocked.Increment(ref runs);
                return order;
            }),
            services: s => s.AddSingleton<TimeProvider>(serverTime));
        var services = _hosts.CreateClientServices(address);
        var requests = services.GetRequiredService<IIpcClientFactory>().GetRequestClient(AmqpTestHost.Endpoint);

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => requests.RequestAsync<Order, Order>("price", new Order(1), new IpcCallOptions { Timeout = TimeSpan.FromSeconds(20) }).AsTask().WaitAsync(Bound));

        Assert.Contains("after its deadline had passed", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task SendAsync_ArrivesAfterItsDeadline_IsDroppedAsExpiredWithoutRunningTheHandler()
    {
        var address = AmqpTestAddresses.New("send-past-deadline");
        var runs = 0;
        using var expired = new LogWatch(1707);
        var serverTime = new FakeTimeProvider(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1));
        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("ship", (_, _, _) =>
            {
                Interlocked.Increment(ref runs);
                return ValueTask.CompletedTask;
            }),
            logs: expired,
            services: s => s.AddSingleton<TimeProvider>(serverTime).AddLogging(logging => logging.SetMinimumLevel(LogLevel.Debug)));
        var client = _hosts.CreateClient(address);

        var body = new System.Buffers.ArrayBufferWriter<byte>();
        new Ipc.Serialization.MessagePackIpcSerializer().Serialize(body, new Order(5));
        var message = new IpcMessage("ship", body.WrittenMemory.ToArray())
        {
            MessageId = "late-0001",
            ContentType = Ipc.Serialization.MessagePackIpcSerializer.MediaType,
            Timeout = TimeSpan.FromSeconds(20), // a one-way message has a deadline only when its sender sets one
        };

        await client.SendAsync(message).AsTask().WaitAsync(Bound);

        Assert.Contains("late-0001", await expired.Logged.WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task RequestAsync_ServerStopsWhileAHandlerIgnoresItsToken_AnotherInstanceDoesNotRunItAgain()
    {
        // Requests are at most once (docs/amqp.md). The stopping server closes its channel after 10 s with the request
        // unacknowledged, so the broker delivers it again (redelivered); the other instance ran the handler a second time.
        var address = AmqpTestAddresses.New("request-redelivered");
        var runs = 0;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Map(IpcServerBuilder s) => s.MapRequest<Order, Order>("charge", async (order, _, _) =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                started.TrySetResult();
                await release.Task; // ignores its token, as a handler stuck in a call may
            }

            return order;
        });
        var first = await _hosts.StartServerAsync(address, Map);
        var services = _hosts.CreateClientServices(address);
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);
        var call = client.RequestAsync<Order, Order>("charge", new Order(42), new IpcCallOptions { Timeout = TimeSpan.FromMinutes(1) }).AsTask();
        await started.Task.WaitAsync(Bound);
        await _hosts.StartServerAsync(address, Map);

        try
        {
            await first.StopAsync().WaitAsync(Bound);

            var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(Bound));
            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
            Assert.False(ex.NotAccepted); // it may have been handled
            Assert.Equal(1, Volatile.Read(ref runs));
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task SendAsync_HandlerFailsOnce_RedeliveryCarriesTheHeadersAsSent()
    {
        var address = AmqpTestAddresses.New("redelivery-headers");
        var seen = new ConcurrentQueue<Dictionary<string, string>>();
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.MapMessage<Order>("charge", (_, context, _) =>
        {
            seen.Enqueue(new Dictionary<string, string>(context.Headers, StringComparer.Ordinal));
            if (seen.Count == 1)
            {
                throw new InvalidOperationException("card declined, once");
            }

            handled.TrySetResult();
            return ValueTask.CompletedTask;
        }));
        var client = _hosts.CreateClient(address);
        var headers = new Dictionary<string, string>(StringComparer.Ordinal) { ["x-tenant"] = "contoso" };

        await client.SendAsync("charge", new Order(42), new IpcCallOptions { Headers = headers }).AsTask().WaitAsync(Bound);
        await handled.Task.WaitAsync(Bound);

        // Both deliveries: the sender's headers, and none of the transport's (ipc-deliveries), the broker's or the client library's.
        Assert.Equal(2, seen.Count);
        Assert.All(seen, delivery => Assert.Equal(headers.OrderBy(p => p.Key), delivery.Where(p => p.Key is not (IpcHeaderNames.TraceParent or IpcHeaderNames.TraceState)).OrderBy(p => p.Key)));
    }

    [Fact]
    public async Task SendAsync_DuplicateFilterOnAndHandlerFailsOnce_NextDeliveryRunsTheHandler()
    {
        // The failed message comes back with its message id, as docs/amqp.md says; the duplicate filter remembered the id
        // from the failed delivery and dropped the message as handled: acknowledged, never dead-lettered, lost.
        var address = AmqpTestAddresses.New("duplicate-filter-retry");
        var attempts = 0;
        var handled = new TaskCompletionSource<Order>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.UseDuplicateFilter().MapMessage<Order>("charge", (order, _, _) =>
        {
            if (Interlocked.Increment(ref attempts) == 1)
            {
                throw new InvalidOperationException("card declined, once");
            }

            handled.TrySetResult(order);
            return ValueTask.CompletedTask;
        }));
        var client = _hosts.CreateClient(address);

        await client.SendAsync("charge", new Order(42)).AsTask().WaitAsync(Bound);

        Assert.Equal(new Order(42), await handled.Task.WaitAsync(Bound));
        Assert.Equal(2, Volatile.Read(ref attempts));
    }

    [Fact]
    public async Task SendAsync_HandlerKeepsFailing_MessageGoesToDeadLetterQueueWithItsError()
    {
        var address = AmqpTestAddresses.New("poison");
        var attempts = 0;
        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) =>
            {
                Interlocked.Increment(ref attempts);
                throw new InvalidOperationException("card declined");
            }),
            amqp: o => o.MaxDeliveries = 3);
        var client = _hosts.CreateClient(address);

        await client.SendAsync("charge", new Order(42), new IpcCallOptions { MessageId = "poison-0001" }).AsTask().WaitAsync(Bound);

        await using var broker = await RawAmqp.ConnectAsync(address);
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("poison-0001", dead.BasicProperties.MessageId);
        Assert.Equal("charge", dead.BasicProperties.Type);
        var headers = dead.BasicProperties.Headers!;
        Assert.Equal("RemoteError", Encoding.UTF8.GetString((byte[])headers[AmqpMessages.ErrorHeader]!));
        Assert.False(string.IsNullOrEmpty(Encoding.UTF8.GetString((byte[])headers[AmqpMessages.ErrorMessageHeader]!)));
        Assert.Equal(queue, Encoding.UTF8.GetString((byte[])headers[AmqpMessages.OriginalQueueHeader]!));
        Assert.Equal(3L, Convert.ToInt64(headers[AmqpMessages.DeliveriesHeader], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(3, Volatile.Read(ref attempts));
        Assert.Equal(0u, await broker.MessageCountAsync(queue));
    }

    [Fact]
    public async Task SendAsync_ServerStopsWhileTheHandlerRuns_TheReturnDoesNotCountTowardsMaxDeliveries()
    {
        // A message whose handler was running when its server stopped went back to the queue unacknowledged, and the
        // quorum queue counted that return as a delivery (x-delivery-count): with MaxDeliveries 2, the next server's
        // first failure dead-lettered it, as if the handler had failed twice.
        var address = AmqpTestAddresses.New("stop-uncounted");
        var runs = 0;
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Map(IpcServerBuilder s) => s.MapMessage<Order>("charge", async (_, _, cancellationToken) =>
        {
            var run = Interlocked.Increment(ref runs);
            if (run == 1)
            {
                firstStarted.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken); // ends when the server stops
            }

            if (run == 2)
            {
                throw new InvalidOperationException("card declined, once");
            }

            handled.TrySetResult(run);
        });
        var first = await _hosts.StartServerAsync(address, Map, amqp: o => o.MaxDeliveries = 2);
        var client = _hosts.CreateClient(address);
        await client.SendAsync("charge", new Order(42)).AsTask().WaitAsync(Bound);
        await firstStarted.Task.WaitAsync(Bound);

        await first.StopAsync().WaitAsync(Bound);
        await _hosts.StartServerAsync(address, Map, amqp: o => o.MaxDeliveries = 2);

        Assert.Equal(3, await handled.Task.WaitAsync(Bound)); // stopped, failed once, handled
        await using var broker = await RawAmqp.ConnectAsync(address);
        Assert.Equal(0u, await broker.MessageCountAsync(AmqpTopology.DeadLetterQueue(AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge"))));
    }

    [Fact]
    public async Task SendAsync_BrokerTookItBackMaxDeliveriesTimes_GoesToDeadLetterQueueWithoutRunningAgain()
    {
        // A message whose handler ends its server's process never fails: the broker gave it to the next process, which
        // ended too, for ever. The count the broker keeps (x-delivery-count) was looked at only after a handler failed.
        var address = AmqpTestAddresses.New("process-killer");
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        await using var broker = await RawAmqp.ConnectAsync(address);
        await broker.DeclareExpiringAsync(queue, AmqpTestAddresses.QueueExpiry); // as the server declares it
        await RawAmqp.PublishToRouteAsync(address, "charge", new Order(42), new RabbitMQ.Client.BasicProperties { MessageId = "killer-0001" });
        await broker.TakeAndAbandonAsync(queue, Bound); // two servers took it and ended without finishing it
        await broker.TakeAndAbandonAsync(queue, Bound);
        var runs = 0;

        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) =>
            {
                Interlocked.Increment(ref runs);
                return ValueTask.CompletedTask;
            }),
            amqp: o => o.MaxDeliveries = 2);

        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("killer-0001", dead.BasicProperties.MessageId);
        var headers = dead.BasicProperties.Headers!;
        Assert.Equal("Unavailable", Encoding.UTF8.GetString((byte[])headers[AmqpMessages.ErrorHeader]!));
        Assert.Contains("2", Encoding.UTF8.GetString((byte[])headers[AmqpMessages.ErrorMessageHeader]!), StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref runs));
        Assert.Equal(0u, await broker.MessageCountAsync(queue));
    }

    [Fact]
    public async Task SendAsync_FailedOnceThenTakenBackByTheBroker_BothCountTowardsMaxDeliveries()
    {
        // A message published again after a failure carries its count (ipc-deliveries) and starts a new x-delivery-count;
        // the server took the larger of the two, so a failure and a return made two deliveries, not three.
        var address = AmqpTestAddresses.New("failed-and-returned");
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        await using var broker = await RawAmqp.ConnectAsync(address);
        await broker.DeclareExpiringAsync(queue, AmqpTestAddresses.QueueExpiry);
        await RawAmqp.PublishToRouteAsync(address, "charge", new Order(42), new RabbitMQ.Client.BasicProperties
        {
            MessageId = "counted-0001",
            Headers = new Dictionary<string, object?> { [AmqpMessages.DeliveriesHeader] = 1L }, // as published again after one failure
        });
        await broker.TakeAndAbandonAsync(queue, Bound);
        var runs = 0;

        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) =>
            {
                Interlocked.Increment(ref runs);
                throw new InvalidOperationException("card declined");
            }),
            amqp: o => o.MaxDeliveries = 3);

        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("counted-0001", dead.BasicProperties.MessageId);
        Assert.Equal(3L, Convert.ToInt64(dead.BasicProperties.Headers![AmqpMessages.DeliveriesHeader], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, Volatile.Read(ref runs));
    }

    [Theory]
    [InlineData(long.MaxValue, 0)]
    [InlineData(long.MinValue, 2)]
    [InlineData(-5L, 2)]
    public async Task SendAsync_PublisherSetsAnyDeliveryCount_FailingHandlerRunsNoMoreThanMaxDeliveries(long deliveries, int expectedRuns)
    {
        // ipc-deliveries is a header any publisher can set: long.MaxValue plus this delivery overflowed to a negative count,
        // and the message was published again with its count started over (three runs with MaxDeliveries 2). A count
        // below zero counts as none.
        var address = AmqpTestAddresses.New("hostile-count");
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        await using var broker = await RawAmqp.ConnectAsync(address);
        await broker.DeclareExpiringAsync(queue, AmqpTestAddresses.QueueExpiry);
        await RawAmqp.PublishToRouteAsync(address, "charge", new Order(42), new RabbitMQ.Client.BasicProperties
        {
            MessageId = "hostile-count-0001",
            Headers = new Dictionary<string, object?> { [AmqpMessages.DeliveriesHeader] = deliveries },
        });
        var runs = 0;

        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) =>
            {
                Interlocked.Increment(ref runs);
                throw new InvalidOperationException("card declined");
            }),
            amqp: o => o.MaxDeliveries = 2);

        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("hostile-count-0001", dead.BasicProperties.MessageId);
        Assert.Equal(expectedRuns, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task SendAsync_DeadLetterQueueDeletedWhileTheServerRuns_NextFailingMessageStillGoesThere()
    {
        // An operator deletes the dead-letter queue once its messages were dealt with. The next dead letter was returned
        // (mandatory) and the message requeued, delivered, failed and returned again: a loop that never ended.
        var address = AmqpTestAddresses.New("dead-letter-deleted");
        using var deadLettered = new LogWatch(1702);
        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) => throw new InvalidOperationException("card declined")),
            amqp: o => o.MaxDeliveries = 1,
            logs: deadLettered);
        var client = _hosts.CreateClient(address);
        await using var broker = await RawAmqp.ConnectAsync(address);
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        await broker.DeleteQueueAsync(AmqpTopology.DeadLetterQueue(queue));

        await client.SendAsync("charge", new Order(42), new IpcCallOptions { MessageId = "after-delete-0001" }).AsTask().WaitAsync(Bound);

        await deadLettered.Logged.WaitAsync(Bound);
        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("after-delete-0001", dead.BasicProperties.MessageId);
        Assert.Equal("RemoteError", Encoding.UTF8.GetString((byte[])dead.BasicProperties.Headers![AmqpMessages.ErrorHeader]!));
        Assert.Equal(0u, await broker.MessageCountAsync(queue));
    }

    [Fact]
    public async Task SendAsync_QueueExpirySet_DeadLetterOutlivesAQueueUnusedThatLong()
    {
        // Nothing consumes a dead-letter queue, so with QueueExpiry on it the broker deleted it, dead letters included,
        // that long after the server declared it, while the server ran.
        var expiry = TimeSpan.FromSeconds(1);
        var address = AmqpTestAddresses.New("dead-letter-expiry");
        using var deadLettered = new LogWatch(1702);
        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) => throw new InvalidOperationException("card declined")),
            amqp: o =>
            {
                o.MaxDeliveries = 1;
                o.QueueExpiry = expiry;
            },
            logs: deadLettered);
        var client = _hosts.CreateClient(address);
        await client.SendAsync("charge", new Order(42), new IpcCallOptions { MessageId = "expiry-0001" }).AsTask().WaitAsync(Bound);
        await deadLettered.Logged.WaitAsync(Bound);
        await using var broker = await RawAmqp.ConnectAsync(address);
        var probe = $"{RawAmqp.NameOf(address)}.probe";

        // A queue declared after the dead-letter queue, with the same expiry and type, unused: once the broker deleted it,
        // it would have deleted the dead-letter queue too.
        await broker.DeclareExpiringAsync(probe, expiry);
        await broker.WaitForDeletedAsync(probe, Bound);

        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("expiry-0001", dead.BasicProperties.MessageId);
    }

    [Fact]
    public async Task StartAsync_DeadLetterQueueWithAnExpiryFromAnEarlierVersion_UsesItAndWarns()
    {
        var address = AmqpTestAddresses.New("dead-letter-legacy");
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "charge");
        await using var broker = await RawAmqp.ConnectAsync(address);
        await broker.DeclareExpiringAsync(AmqpTopology.DeadLetterQueue(queue), AmqpTestAddresses.QueueExpiry); // as earlier versions declared it
        using var warned = new LogWatch(1710);
        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("charge", (_, _, _) => throw new InvalidOperationException("card declined")),
            amqp: o => o.MaxDeliveries = 1,
            logs: warned);
        var client = _hosts.CreateClient(address);

        await client.SendAsync("charge", new Order(42), new IpcCallOptions { MessageId = "legacy-0001" }).AsTask().WaitAsync(Bound);

        Assert.Contains(AmqpTopology.DeadLetterQueue(queue), await warned.Logged.WaitAsync(Bound), StringComparison.Ordinal);
        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(queue), Bound);
        Assert.Equal("legacy-0001", dead.BasicProperties.MessageId);
    }
}

/// <summary>What a plain AMQP client may put on a server's queues: the server answers or drops it, and keeps serving.</summary>
public sealed class AmqpHostileInputTests : IAsyncLifetime
{
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Fact]
    public async Task Server_BadRepliesMissingRoutesAndBadBodies_KeepsServing()
    {
        var address = AmqpTestAddresses.New("hostile");
        await _hosts.StartServerAsync(address, s => s
            .MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 })
            .MapMessage<Order>("ship", (_, _, _) => ValueTask.CompletedTask));
        var name = RawAmqp.NameOf(address);
        await using (var raw = await RawAmqp.ConnectAsync(address))
        {
            var requests = AmqpTopology.RequestQueue(name);
            await raw.PublishAsync(requests, new RabbitMQ.Client.BasicProperties { Type = "price", ReplyTo = "amq.rabbitmq.reply-to.bogus", CorrelationId = "1" }, [1, 2, 3]);
            await raw.PublishAsync(requests, new RabbitMQ.Client.BasicProperties { ReplyTo = "nowhere", CorrelationId = "2" }, [1, 2, 3]);
            await raw.PublishAsync(requests, new RabbitMQ.Client.BasicProperties { Type = "price", Headers = new Dictionary<string, object?> { ["x"] = new List<object?> { 1, 2 } } }, new byte[5 * 1024 * 1024]);
            await raw.PublishAsync(AmqpTopology.SendQueue(name, "ship"), new RabbitMQ.Client.BasicProperties { Type = "ship" }, [0xc1, 0xff]);
            await raw.WaitForEmptyAsync(requests, AmqpTestHost.Bound);
        }

        var services = _hosts.CreateClientServices(address);
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(new Order(10 * i), await client.RequestAsync<Order, Order>("price", new Order(i)).AsTask().WaitAsync(AmqpTestHost.Bound));
        }
    }

    /// <summary>
    /// AMQP carries a message id, a route (the type property) and header names in at most 255 bytes. A call with a longer
    /// one fails at once with ProtocolError saying which field and what to shorten, not sent, and leaves no call waiting
    /// for a reply; the endpoint keeps serving.
    /// </summary>
    [Theory]
    [InlineData("message-id")]
    [InlineData("route")]
    [InlineData("header")]
    public async Task RequestAsync_FieldLongerThanAmqpCarries_FailsNotSentAndNamesIt(string field)
    {
        var address = AmqpTestAddresses.New("long-field");
        var longRoute = new string('r', 256);
        await _hosts.StartServerAsync(address, s => s
            .MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 })
            .MapRequest<Order, Order>(longRoute, order => order));
        var services = _hosts.CreateClientServices(address);
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);
        var route = field == "route" ? longRoute : "price";
        var options = field switch
        {
            "message-id" => new IpcCallOptions { MessageId = new string('m', 256) },
            "header" => new IpcCallOptions { Headers = new Dictionary<string, string> { [new string('h', 256)] = "x" } },
            _ => null,
        };

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.RequestAsync<Order, Order>(route, new Order(1), options).AsTask().WaitAsync(AmqpTestHost.Bound));

        Assert.Equal(IpcErrorCode.ProtocolError, ex.ErrorCode);
        Assert.True(ex.NotAccepted);
        Assert.Contains("255 bytes", ex.Message, StringComparison.Ordinal);
        Assert.Equal(new Order(20), await client.RequestAsync<Order, Order>("price", new Order(2)).AsTask().WaitAsync(AmqpTestHost.Bound));
    }

    [Fact]
    public async Task Server_MessageWithAHeaderWithoutName_IsHandledWithItsOtherHeaders()
    {
        // AMQP lets a header table hold an empty name; IpcHeaders has no place for one. Reading such a message threw in
        // the consumer: the handler never ran, and the message stayed unacknowledged, unreported, taking a prefetch slot.
        var address = AmqpTestAddresses.New("nameless-header");
        var handled = new TaskCompletionSource<(Order Order, string? Tenant)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.MapMessage<Order>("ship", (order, context, _) =>
        {
            handled.TrySetResult((order, context.Headers.TryGetValue("x-tenant", out var tenant) ? tenant : null));
            return ValueTask.CompletedTask;
        }));
        var headers = new Dictionary<string, object?> { [string.Empty] = "nameless"u8.ToArray(), ["x-tenant"] = "contoso"u8.ToArray() };

        await RawAmqp.PublishToRouteAsync(address, "ship", new Order(7), new RabbitMQ.Client.BasicProperties { Headers = headers });

        Assert.Equal((new Order(7), "contoso"), await handled.Task.WaitAsync(AmqpTestHost.Bound));
    }

    [Fact]
    public async Task RequestAsync_ResponseAmqpCannotCarry_CallerGetsAFaultAndTheServerKeepsServing()
    {
        // AMQP header names are at most 255 bytes. Publishing the reply threw, so the caller waited for its timeout and
        // the request was never acknowledged: with a prefetch of 1, the server took no other request.
        var address = AmqpTestAddresses.New("unsendable-reply");
        await _hosts.StartServerAsync(
            address,
            s => s
                .MapRequest<Order, Order>("price", (order, context, _) =>
                {
                    context.ResponseHeaders[new string('h', 300)] = "a name over 255 bytes";
                    return ValueTask.FromResult(order);
                })
                .MapRequest<Order, Order>("echo", order => order),
            amqp: o => o.Prefetch = 1);
        var services = _hosts.CreateClientServices(address);
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IIpcClientFactory>(services).GetRequestClient(AmqpTestHost.Endpoint);
        var options = new IpcCallOptions { Timeout = TimeSpan.FromSeconds(10) };

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.RequestAsync<Order, Order>("price", new Order(1), options).AsTask().WaitAsync(AmqpTestHost.Bound));

        Assert.Equal(IpcErrorCode.ProtocolError, ex.ErrorCode);
        Assert.Contains("price", ex.Message, StringComparison.Ordinal);
        Assert.Equal(new Order(2), await client.RequestAsync<Order, Order>("echo", new Order(2), options).AsTask().WaitAsync(AmqpTestHost.Bound));
    }
}

/// <summary>Who published a message: a broker hides the publisher, so the server names it only by the <c>app_id</c> it set.</summary>
public sealed class AmqpRemoteAddressTests : IAsyncLifetime
{
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Fact]
    public async Task Server_PublisherSetsAppId_HandlerSeesItAsRemoteAddress()
    {
        var address = AmqpTestAddresses.New("appid");
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.MapMessage<Order>("ship", (_, context, _) =>
        {
            seen.TrySetResult(context.RemoteAddress);
            return ValueTask.CompletedTask;
        }));
        await RawAmqp.PublishToRouteAsync(address, "ship", new Order(7), new RabbitMQ.Client.BasicProperties { AppId = "billing-7" });

        Assert.Equal("billing-7", await seen.Task.WaitAsync(AmqpTestHost.Bound));
    }

    [Fact]
    public async Task Server_MessageDeliveredAgainOrDeadLettered_KeepsItsAppId()
    {
        // A failed message is published again by the server (to its queue, then to the dead-letter queue): app_id was
        // dropped there, so the next delivery's handler and the operator looking at the dead letter lost the publisher.
        var address = AmqpTestAddresses.New("appid-redelivered");
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        await _hosts.StartServerAsync(
            address,
            s => s.MapMessage<Order>("ship", (_, context, _) =>
            {
                seen.Enqueue(context.RemoteAddress);
                throw new InvalidOperationException("warehouse closed");
            }),
            amqp: o => o.MaxDeliveries = 2);
        await RawAmqp.PublishToRouteAsync(address, "ship", new Order(7), new RabbitMQ.Client.BasicProperties { AppId = "billing-7" });

        await using var broker = await RawAmqp.ConnectAsync(address);
        var dead = await broker.GetAsync(AmqpTopology.DeadLetterQueue(AmqpTopology.SendQueue(RawAmqp.NameOf(address), "ship")), AmqpTestHost.Bound);

        Assert.Equal("billing-7", dead.BasicProperties.AppId);
        Assert.Equal(["billing-7", "billing-7"], seen);
    }
}

/// <summary>Tracing where RabbitMQ.Client traces too: a message with no trace context of its own continues the client library's.</summary>
public sealed class AmqpTracingTests : IAsyncLifetime
{
    private const string SubscriberSource = "RabbitMQ.Client.Subscriber";

    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Fact]
    public async Task Server_MessageWithoutTraceContext_SpanIsAChildOfRabbitMqClientsDeliverySpan()
    {
        var address = AmqpTestAddresses.New("delivery-span");
        var deliveries = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            // Not RabbitMQ.Client's publisher source: the message is to carry no trace context, as from a client that traces nothing.
            ShouldListenTo = source => source.Name is Ipc.Diagnostics.IpcDiagnostics.ActivitySourceName or SubscriberSource,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = activity =>
            {
                if (activity.Source.Name == SubscriberSource)
                {
                    deliveries.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var handled = new TaskCompletionSource<(Activity? Span, bool HadTraceParent)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.MapMessage<Order>("ship", (_, context, _) =>
        {
            handled.TrySetResult((Activity.Current, context.Headers.ContainsKey(IpcHeaderNames.TraceParent)));
            return ValueTask.CompletedTask;
        }));
        await RawAmqp.PublishToRouteAsync(address, "ship", new Order(7), new RabbitMQ.Client.BasicProperties());

        var (span, hadTraceParent) = await handled.Task.WaitAsync(AmqpTestHost.Bound);

        Assert.False(hadTraceParent);
        Assert.NotNull(span);
        Assert.Equal(Ipc.Diagnostics.IpcDiagnostics.ActivitySourceName, span.Source.Name);
        var delivery = Assert.Single(deliveries, d => d.SpanId == span.ParentSpanId);
        Assert.Equal(delivery.TraceId, span.TraceId);
    }
}

/// <summary>A message of the AMQP tests.</summary>
public sealed record Order(int Id);
