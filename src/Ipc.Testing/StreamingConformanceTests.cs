using System.Diagnostics;
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

    /// <summary>
    /// A server that stops while it streams ends the caller's stream with Unavailable, not at its timeout and not with an
    /// exception of the transport's own: the items that came before are the caller's.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_ServerStopsMidStream_ThrowsUnavailable()
    {
        var (server, client) = await StartPairAsync(configureClient: e => e.RequestTimeout = TimeSpan.FromMinutes(10));
        var received = 0;
        Task? stopping = null;

        var ex = await Assert.ThrowsAsync<IpcException>(async () =>
        {
            await foreach (var item in client.Requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(-1)).WithCancellation(new CancellationTokenSource(Bound).Token))
            {
                Assert.Equal(received++, item);
                stopping ??= server.StopAsync();
            }
        });

        Assert.True(ex.ErrorCode == IpcErrorCode.Unavailable, $"The stream ended with {ex}");
        Assert.True(received > 0);
        await stopping!.WaitAsync(Bound);
    }

    /// <summary>
    /// A server that stops while a stream's producer ignores its token ends the caller's stream with Unavailable without
    /// waiting for that producer: the caller is told while the producer still holds on.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_ServerStopsWhileAProducerIgnoresItsToken_ThrowsUnavailable()
    {
        var (server, client) = await StartPairAsync(configureClient: e => e.RequestTimeout = TimeSpan.FromMinutes(10));
        await using var items = client.Requests.StreamAsync<int, int>(ConformanceRoutes.HeldStream, 7).GetAsyncEnumerator();
        Assert.True(await items.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.Equal(7, items.Current);
        var next = items.MoveNextAsync().AsTask();
        await Probe.HeldStreamHolding.Task.WaitAsync(Bound);
        Task? stopping = null;
        try
        {
            stopping = server.StopAsync();

            var ex = await Assert.ThrowsAsync<IpcException>(() => next.WaitAsync(Bound));
            Assert.True(ex.ErrorCode == IpcErrorCode.Unavailable, $"The stream ended with {ex}");
        }
        finally
        {
            Probe.ReleaseHeldStream.TrySetResult();
        }

        await stopping.WaitAsync(Bound);
    }

    /// <summary>A stream emits a client and a server span of the same trace and both durations, tagged by OpenTelemetry's RPC conventions.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task StreamAsync_Observed_EmitsClientAndServerSpansAndDurations()
    {
        var (server, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var clientDuration = capture.Histogram(client.Services, "ipc.client.stream.duration");
        var serverDuration = capture.Histogram(server.Services, "ipc.server.stream.duration");

        var items = 0;
        await foreach (var item in client.Requests.StreamAsync<RangeRequest, int>(ConformanceRoutes.Range, new RangeRequest(3)).WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            items++;
        }

        Assert.Equal(3, items);
        var name = $"{EndpointName}/{ConformanceRoutes.Range}";
        var clientSpan = await capture.SpanAsync(ActivityKind.Client, name);
        var serverSpan = await capture.SpanAsync(ActivityKind.Server, name);
        Assert.Equal(clientSpan.SpanId, serverSpan.ParentSpanId);
        TelemetryCapture.AssertTags(clientSpan, TelemetryCapture.RpcTags(EndpointName, ConformanceRoutes.Range));
        TelemetryCapture.AssertTags(serverSpan, TelemetryCapture.RpcTags(EndpointName, ConformanceRoutes.Range));
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(clientDuration)), "ipc.client.stream.duration", TelemetryCapture.RpcTags(EndpointName, ConformanceRoutes.Range));
        var handled = Assert.Single(await TelemetryCapture.MeasurementsAsync(serverDuration));
        TelemetryCapture.AssertTags(handled, "ipc.server.stream.duration", TelemetryCapture.RpcTags(EndpointName, ConformanceRoutes.Range));
        Assert.False(handled.Tags.ContainsKey("error.type"));
    }
}
