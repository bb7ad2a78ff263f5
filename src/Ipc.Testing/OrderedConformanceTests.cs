using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Order (<see cref="TransportCapabilities.Ordered"/>): one-way messages from one sender, singly or in batches, are
/// handled in the order they were sent.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class OrderedConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.OneWay | TransportCapabilities.Ordered;

    /// <summary>One-way messages from one sender arrive in the order they were sent.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_OneSender_ArriveInOrder()
    {
        const int count = 2_000;
        var (_, client) = await StartPairAsync();
        Probe.ExpectNumbers(count);

        for (var i = 0; i < count; i++)
        {
            await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(i));
        }

        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers);
    }

    /// <summary>
    /// One-way messages arrive in order when some handlers finish at once and others later: a message that comes while
    /// the one before is still in its handler waits for it.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual Task SendBatchAsync_SomeHandlersFinishLater_ArriveInOrder() => SendInBatchesThenAssertOrderAsync(ConformanceRoutes.NumbersSometimesLater, 3_000);

    /// <summary>Batches from one sender arrive in order: within a batch and from one batch to the next.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual Task SendBatchAsync_OneSender_ArriveInOrder() => SendInBatchesThenAssertOrderAsync(ConformanceRoutes.Numbers, 2_000);

    /// <summary>Sends 0 .. <paramref name="count"/>-1 to <paramref name="route"/> in batches of 100 and checks they arrived in that order.</summary>
    private async Task SendInBatchesThenAssertOrderAsync(string route, int count)
    {
        const int batchSize = 100;
        var (_, client) = await StartPairAsync();
        Probe.ExpectNumbers(count);

        for (var start = 0; start < count; start += batchSize)
        {
            await client.Channel.SendBatchAsync(route, Enumerable.Range(start, batchSize).Select(i => new Numbered(i))).AsTask().WaitAsync(Bound);
        }

        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers);
    }
}
