using System.Collections.Concurrent;
using System.Diagnostics;
using Ipc.Diagnostics;
using Ipc.Tests.Resilience;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Client;

/// <summary>What <see cref="IChannel.SendBatchAsync{TMessage}"/> checks before it sends, and what it stamps on each message.</summary>
public sealed class SendBatchTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task SendBatchAsync_Typed_SendsEachMessageInOrderWithItsOwnIdAndTheOptions()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var options = new IpcCallOptions { CorrelationId = "order-7", Headers = new Dictionary<string, string> { ["x-tenant"] = "contoso" } };

        await endpoint.Channel.SendBatchAsync("note", ["a", "b", "c"], options).AsTask().WaitAsync(Bound);

        var sent = endpoint.Transport.Attempts.Select(a => a.Message).ToList();
        Assert.Equal(3, sent.Count);
        Assert.Equal(3, sent.Select(m => m.MessageId).Distinct().Count());
        Assert.All(sent, m =>
        {
            Assert.Equal("note", m.Route);
            Assert.Equal("order-7", m.CorrelationId);
            Assert.Equal("contoso", m.Headers["x-tenant"]);
        });
        var serializer = endpoint.Services.GetRequiredKeyedService<IIpcSerializer>(IpcOptions.MessagePackSerializer);
        Assert.Equal(["a", "b", "c"], sent.Select(m => serializer.Deserialize<string>(m.Body)));
    }

    [Fact]
    public async Task SendBatchAsync_Raw_KeepsIdsAndCopiesTheList()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var messages = new List<IpcMessage> { new("note", new byte[] { 1 }) { MessageId = "first" }, new("note", new byte[] { 2 }) { MessageId = "second" } };

        var batch = endpoint.Channel.SendBatchAsync(messages);
        messages.Clear(); // the batch sends what the list held when it was called
        await batch.AsTask().WaitAsync(Bound);

        Assert.Equal(["first", "second"], endpoint.Transport.Attempts.Select(a => a.Message.MessageId));
        Assert.Equal(["first", "second"], endpoint.Transport.Attempts.Select(a => a.Message.CorrelationId));
    }

    [Fact]
    public async Task SendBatchAsync_Empty_SendsNothing()
    {
        await using var endpoint = ScriptedEndpoint.Create();

        await endpoint.Channel.SendBatchAsync("note", Array.Empty<int>()).AsTask().WaitAsync(Bound);
        await endpoint.Channel.SendBatchAsync([]).AsTask().WaitAsync(Bound);

        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendBatchAsync_MessageIdOption_IsRefused()
    {
        await using var endpoint = ScriptedEndpoint.Create();

        var ex = Assert.Throws<ArgumentException>(() => { _ = endpoint.Channel.SendBatchAsync("note", [1, 2], new IpcCallOptions { MessageId = "one" }); });

        Assert.Equal("options", ex.ParamName);
        Assert.Contains("Leave MessageId unset", ex.Message, StringComparison.Ordinal);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendBatchAsync_NullMessage_IsRefused()
    {
        await using var endpoint = ScriptedEndpoint.Create();

        var ex = Assert.Throws<ArgumentException>(() => { _ = endpoint.Channel.SendBatchAsync([new IpcMessage("note", new byte[] { 1 }), null!]); });

        Assert.Contains("Message 1 of the batch is null", ex.Message, StringComparison.Ordinal);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendBatchAsync_OneMessageTooLarge_SendsNoneOfThem()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var small = new IpcMessage("note", new byte[16]);
        var large = new IpcMessage("note", new byte[IpcEndpointOptions.DefaultMaxMessageSize + 1]);

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendBatchAsync([small, large]).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.MessageTooLarge, ex.ErrorCode);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendBatchAsync_OneMessageFailsToSerialize_SendsNoneOfThem()
    {
        await using var endpoint = ScriptedEndpoint.Create();

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Channel.SendBatchAsync<object>("note", [1, new Unserializable()]).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    [Fact]
    public async Task SendBatchAsync_WithoutOneWay_ThrowsNotSupported()
    {
        await using var endpoint = ScriptedEndpoint.Create(capabilities: TransportCapabilities.RequestResponse);

        var ex = Assert.Throws<IpcException>(() => { _ = endpoint.Channel.SendBatchAsync("note", [1]); });

        Assert.Equal(IpcErrorCode.NotSupported, ex.ErrorCode);
        Assert.Contains("SendBatchAsync needs OneWay", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendBatchAsync_Traced_OneSendSpanLinkedToEachMessagesCreateSpan()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var source = new ActivitySource("Ipc.Tests.SendBatch");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is IpcDiagnostics.SourceName or "Ipc.Tests.SendBatch",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var endpoint = ScriptedEndpoint.Create();

        using (var parent = source.StartActivity("caller"))
        {
            Assert.NotNull(parent);
            await endpoint.Channel.SendBatchAsync("note", [1, 2, 3]).AsTask().WaitAsync(Bound);

            var batch = Assert.Single(stopped, a => a.TraceId == parent.TraceId && a.Source.Name == IpcDiagnostics.SourceName && a.OperationName == "send note");
            Assert.Equal(ActivityKind.Client, batch.Kind);
            Assert.Equal(3, batch.GetTagItem("messaging.batch.message_count"));
            Assert.Equal("send_batch", batch.GetTagItem("messaging.operation.name"));
            var creates = stopped.Where(a => a.TraceId == parent.TraceId && a.OperationName == "create note").ToList();
            Assert.Equal(3, creates.Count);
            Assert.Equal(creates.Select(c => c.SpanId.ToHexString()).Order(), batch.Links.Select(l => l.Context.SpanId.ToHexString()).Order());
            Assert.Equal(
                creates.Select(c => c.SpanId.ToHexString()).Order(),
                endpoint.Transport.Attempts.Select(a => a.Message.Headers[IpcHeaderNames.TraceParent].Split('-')[2]).Order());
        }
    }

    /// <summary>A type MessagePack cannot serialize: it has no contract.</summary>
    private sealed class Unserializable
    {
        public Func<int> Value { get; } = () => 1;
    }
}
