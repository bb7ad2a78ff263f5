using Xunit;

namespace Ipc.Testing;

/// <summary>
/// One-way messages (<see cref="TransportCapabilities.OneWay"/>): every message sent, singly or in batches, is handled
/// exactly once, and a stalled server makes senders wait instead of buffering without bound.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class OneWayConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.OneWay;

    /// <summary>10,000 one-way messages are each delivered exactly once.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_TenThousandMessages_AreDeliveredExactlyOnce()
    {
        const int count = 10_000;
        var (_, client) = await StartPairAsync();
        Probe.ExpectNumbers(count);

        for (var i = 0; i < count; i++)
        {
            await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i));
        }

        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers.Order()); // in order where the transport is Ordered: OrderedConformanceTests
    }

    /// <summary>
    /// 10,000 one-way messages sent in batches of 500 are each delivered exactly once, each with an id of its own.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendBatchAsync_TenThousandMessagesInBatches_AreDeliveredExactlyOnce()
    {
        const int count = 10_000;
        const int batchSize = 500;
        var (_, client) = await StartPairAsync();
        Probe.ExpectNumbers(count);

        for (var start = 0; start < count; start += batchSize)
        {
            await client.Channel.SendBatchAsync(ConformanceRoutes.Numbers, Enumerable.Range(start, batchSize).Select(i => new Numbered(i))).AsTask().WaitAsync(Bound);
        }

        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers.Order()); // in order where the transport is Ordered: OrderedConformanceTests
    }

    /// <summary>
    /// A server that handles nothing for a while makes senders wait for space instead of buffering without bound, and
    /// once it goes on, every message sent meanwhile arrives exactly once.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_ServerStalled_SendersWaitThenEveryMessageArrives()
    {
        // 10,000 messages of 3 KiB: 30 MiB, more than a server queue, the buffers between the two ends and a client's
        // write buffer hold together, so some sends must still be waiting while the server is held.
        const int count = 10_000;
        var address = CreateAddress();
        await StartServerAsync(address, e => e.MaxMessageSize = 4096);
        var client = CreateClient(address, resilience: r =>
        {
            r.TotalTimeout = TimeSpan.FromMinutes(2); // waiting for space is what this fact is about: no timeout may end it
            r.AttemptTimeout = TimeSpan.FromMinutes(1);
        });
        Probe.ExpectNumbers(count);

        var sends = new Task[count];
        for (var i = 0; i < count; i++)
        {
            var data = new byte[3 * 1024];
            BitConverter.TryWriteBytes(data, i);
            sends[i] = client.Channel.SendAsync(ConformanceRoutes.Held, new Payload(data)).AsTask();
        }

        Assert.Contains(sends, send => !send.IsCompleted);
        Probe.ReleaseHeld.TrySetResult();
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(60));
        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers.Order());
    }

    /// <summary>
    /// One-way handlers that are all held up hold up nothing else: while more one-way messages wait than any server
    /// queue takes, a request from the same client (and so, with the default pool of one, the same connection) is
    /// answered. Once the handlers go on, every message arrives.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_OneWayHandlersHeld_RequestsOnTheSameClientAreAnswered()
    {
        const int count = 3_000;
        var address = CreateAddress();
        await StartServerAsync(address);
        var client = CreateClient(address, resilience: r =>
        {
            r.TotalTimeout = TimeSpan.FromMinutes(2); // the held sends wait for the server: no timeout may end them
            r.AttemptTimeout = TimeSpan.FromMinutes(1);
        });
        Probe.ExpectNumbers(count);

        var sends = new Task[count];
        for (var i = 0; i < count; i++)
        {
            sends[i] = client.Channel.SendAsync(ConformanceRoutes.Held, new Payload(BitConverter.GetBytes(i))).AsTask();
        }

        var sum = await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(Bound);

        Assert.Equal(42, sum.Sum);
        Assert.False(Probe.NumbersArrived.Task.IsCompleted);
        Probe.ReleaseHeld.TrySetResult();
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(60));
        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers.Order());
    }
}
