using System.Diagnostics;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Publish/subscribe (<see cref="TransportCapabilities.PublishSubscribe"/>): a published message reaches every
/// subscribing service once, and the instances of one service share the messages (competing consumers). Servers subscribe
/// with <c>MapSubscription</c> and name their service with <c>WithServiceName</c>.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class PublishSubscribeConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.PublishSubscribe;

    /// <summary>Maps the conformance routes and subscribes to <see cref="ConformanceRoutes.Topic"/>.</summary>
    protected override void MapRoutes(IpcServerBuilder server, ConformanceProbe probe)
    {
        base.MapRoutes(server, probe);
        server.MapConformanceSubscription(probe);
    }

    /// <summary>A message published to a topic reaches the server that subscribes to it.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task PublishAsync_Subscriber_ReceivesMessage()
    {
        var (_, client) = await StartPairAsync();
        var headers = new Dictionary<string, string>(StringComparer.Ordinal) { ["x-tenant"] = "contoso", ["x-unicode"] = "héllo wörld ✓" };

        await client.Channel.PublishAsync(ConformanceRoutes.Topic, new Numbered(99), new IpcCallOptions { Headers = headers }).AsTask().WaitAsync(Bound);

        Assert.Equal(new Numbered(99), await Probe.Published.Task.WaitAsync(Bound));
        AssertHeadersAsSent(headers, await Probe.MessageHeaders.Task.WaitAsync(Bound));
    }

    /// <summary>Two services subscribing to one topic each get every message published to it, exactly once.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task PublishAsync_TwoServices_EachGetsEveryMessageOnce()
    {
        const int count = 100;
        var address = CreateAddress();
        var billing = new ConformanceProbe();
        var shipping = new ConformanceProbe();
        billing.ExpectNumbers(count);
        shipping.ExpectNumbers(count);
        await StartServerAsync(address, billing, "billing");
        await StartServerAsync(address, shipping, "shipping");
        var client = CreateClient(address);

        for (var i = 0; i < count; i++)
        {
            await client.Channel.PublishAsync(ConformanceRoutes.Topic, new Numbered(i)).AsTask().WaitAsync(Bound);
        }

        await Task.WhenAll(billing.NumbersArrived.Task, shipping.NumbersArrived.Task).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), billing.Numbers.Order());
        Assert.Equal(Enumerable.Range(0, count), shipping.Numbers.Order());
    }

    /// <summary>Two instances of one service compete for the messages of a topic: together they handle each exactly once.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task PublishAsync_TwoInstancesOfOneService_ShareEachMessageOnce()
    {
        const int count = 100;
        var address = CreateAddress();
        var instances = new ConformanceProbe(); // both instances report here
        instances.ExpectNumbers(count);
        await StartServerAsync(address, instances, "billing");
        await StartServerAsync(address, instances, "billing");
        var client = CreateClient(address);

        for (var i = 0; i < count; i++)
        {
            await client.Channel.PublishAsync(ConformanceRoutes.Topic, new Numbered(i)).AsTask().WaitAsync(Bound);
        }

        await instances.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), instances.Numbers.Order());
    }

    /// <summary>A published message emits a producer span and the subscriber's consumer span, of the same trace, and both durations.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task PublishAsync_Observed_EmitsProducerAndConsumerSpansAndDurations()
    {
        var (server, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var sendDuration = capture.Histogram(client.Services, "ipc.client.send.duration");
        var processDuration = capture.Histogram(server.Services, "ipc.server.process.duration");

        await client.Channel.PublishAsync(ConformanceRoutes.Topic, new Numbered(7)).AsTask().WaitAsync(Bound);
        await Probe.Published.Task.WaitAsync(Bound);

        var published = await capture.SpanAsync(ActivityKind.Producer, $"publish {ConformanceRoutes.Topic}");
        var processed = await capture.SpanAsync(ActivityKind.Consumer, $"process {ConformanceRoutes.Topic}");
        Assert.Equal(published.TraceId, processed.TraceId);
        TelemetryCapture.AssertTags(published, TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Topic, "send").Append(("messaging.operation.name", "publish")).ToArray());
        TelemetryCapture.AssertTags(processed, TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Topic, "process"));
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(sendDuration)), "ipc.client.send.duration", TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Topic, "send"));
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(processDuration)), "ipc.server.process.duration", TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Topic, "process"));
    }
}
