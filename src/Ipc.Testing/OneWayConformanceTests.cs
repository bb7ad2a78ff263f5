using System.Diagnostics;
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
    /// A one-way message's handler sees the headers it was sent with, and none the transport uses on its own (the trace
    /// context aside, which a listener in the same process may add).
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_Headers_ReachTheHandlerAsSent()
    {
        var (_, client) = await StartPairAsync();
        var headers = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["x-tenant"] = "contoso",
            ["x-unicode"] = "héllo wörld ✓",
        };

        await client.Channel.SendAsync(ConformanceRoutes.Headers, new Numbered(1), new IpcCallOptions { Headers = headers }).AsTask().WaitAsync(Bound);

        AssertHeadersAsSent(headers, await Probe.MessageHeaders.Task.WaitAsync(Bound));
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

    /// <summary>
    /// A one-way message emits a producer span on the client and a consumer span on the server, of the same trace, and
    /// the client's send and the server's process durations, tagged by OpenTelemetry's messaging conventions.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_Observed_EmitsProducerAndConsumerSpansAndDurations()
    {
        var (server, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var sendDuration = capture.Histogram(client.Services, "ipc.client.send.duration");
        var processDuration = capture.Histogram(server.Services, "ipc.server.process.duration");
        Probe.ExpectNumbers(1);

        await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(1)).AsTask().WaitAsync(Bound);
        await Probe.NumbersArrived.Task.WaitAsync(Bound);

        var sent = await capture.SpanAsync(ActivityKind.Producer, $"send {ConformanceRoutes.Numbers}");
        var processed = await capture.SpanAsync(ActivityKind.Consumer, $"process {ConformanceRoutes.Numbers}");
        Assert.Equal(sent.SpanId, processed.ParentSpanId);
        TelemetryCapture.AssertTags(sent, TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Numbers, "send").Append(("messaging.message.id", null)).ToArray());
        TelemetryCapture.AssertTags(processed, TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Numbers, "process").Append(("messaging.message.id", sent.GetTagItem("messaging.message.id"))).ToArray());
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(sendDuration)), "ipc.client.send.duration", TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Numbers, "send"));
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(processDuration)), "ipc.server.process.duration", TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Numbers, "process"));
    }

    /// <summary>
    /// A batch emits one client span that links to a <c>create</c> span per message; each message's consumer span on the
    /// server is the child of its message's <c>create</c> span; the send duration is recorded once for the batch.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendBatchAsync_Observed_EmitsBatchSpanLinkedToEachMessage()
    {
        const int count = 3;
        var (server, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var sendDuration = capture.Histogram(client.Services, "ipc.client.send.duration");
        var processDuration = capture.Histogram(server.Services, "ipc.server.process.duration");
        Probe.ExpectNumbers(count);

        await client.Channel.SendBatchAsync(ConformanceRoutes.Numbers, Enumerable.Range(0, count).Select(i => new Numbered(i))).AsTask().WaitAsync(Bound);
        await Probe.NumbersArrived.Task.WaitAsync(Bound);

        var batch = await capture.SpanAsync(ActivityKind.Client, $"send {ConformanceRoutes.Numbers}");
        TelemetryCapture.AssertTags(batch, TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Numbers, "send").Append(("messaging.batch.message_count", count)).ToArray());
        var creates = await capture.SpansAsync(ActivityKind.Producer, $"create {ConformanceRoutes.Numbers}", count);
        Assert.Equal(creates.Select(c => c.SpanId.ToHexString()).Order(), batch.Links.Select(l => l.Context.SpanId.ToHexString()).Order());
        var processed = await capture.SpansAsync(ActivityKind.Consumer, $"process {ConformanceRoutes.Numbers}", count);
        Assert.Equal(creates.Select(c => c.SpanId.ToHexString()).Order(), processed.Select(p => p.ParentSpanId.ToHexString()).Order());
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(sendDuration)), "ipc.client.send.duration", TelemetryCapture.MessagingTags(EndpointName, ConformanceRoutes.Numbers, "send").Append(("messaging.operation.name", "send_batch")).ToArray());
        Assert.Equal(count, (await TelemetryCapture.MeasurementsAsync(processDuration, count)).Count);
    }
}
