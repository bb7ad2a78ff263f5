using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Server streams (<see cref="TransportCapabilities.Streaming"/>): every item arrives in order, and a consumer that stops
/// reading stops the producer.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class StreamingConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.Streaming;

    /// <summary>A stream of N responses arrives complete and in order.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_NResponses_ArriveInOrder()
    {
        var (_, client) = await StartPairAsync();
        var received = new List<int>();

        await foreach (var item in client.Requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(500)).WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            received.Add(item);
        }

        Assert.Equal(Enumerable.Range(0, 500), received);
        await Probe.ProducerStopped.Task.WaitAsync(Bound);
    }

    /// <summary>When the consumer stops reading, the producer on the server stops.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_ConsumerStops_StopsProducer()
    {
        var (_, client) = await StartPairAsync();
        var received = new List<int>();

        await foreach (var item in client.Requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(-1)))
        {
            received.Add(item);
            if (received.Count == 5)
            {
                break;
            }
        }

        Assert.Equal([0, 1, 2, 3, 4], received);
        await Probe.ProducerStopped.Task.WaitAsync(Bound);
    }
}
