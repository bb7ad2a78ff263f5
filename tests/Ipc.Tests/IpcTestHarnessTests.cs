using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests;

public sealed class IpcTestHarnessTests
{
    [Fact]
    public async Task Harness_RecordsSentAndHandled()
    {
        #region harness
        await using var harness = await IpcTestHarness.StartAsync(ipc => ipc.AddServer("calculator", s => s
            .MapRequest<Add, int>("add", a => a.A + a.B)
            .MapMessage<string>("log", (_, _, _) => default)));

        var sum = await harness.GetRequestClient("calculator").RequestAsync<Add, int>("add", new Add(2, 3));
        await harness.GetChannel("calculator").SendAsync("log", "hello");
        await harness.WaitForHandledAsync("calculator", "log", 1, TimeSpan.FromSeconds(15));

        Assert.Equal(5, sum);
        Assert.Equal(["add", "log"], harness.Sent.Select(m => m.Message.Route));
        Assert.Equal(new Add(2, 3), Assert.Single(harness.Handled<Add>("calculator", "add")));
        Assert.Equal("hello", Assert.Single(harness.Handled<string>("calculator", "log")));
        Assert.Equal(RecordedKind.OneWay, harness.Received.Last().Kind);
        #endregion
    }

    [Fact]
    public async Task Handled_EndpointWithItsOwnSerializer_DecodesWithIt()
    {
        await using var harness = await IpcTestHarness.StartAsync(ipc => ipc
            .ConfigureEndpoint("calculator", e => e.Serializer = IpcOptions.JsonSerializer)
            .AddServer("calculator", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));

        Assert.Equal(5, await harness.GetRequestClient("calculator").RequestAsync<Add, int>("add", new Add(2, 3)));

        Assert.Equal(new Add(2, 3), Assert.Single(harness.Handled<Add>("calculator", "add")));
    }

    [Fact]
    public async Task WaitForHandledAsync_NotEnough_ThrowsTimeoutSayingHowMany()
    {
        await using var harness = await IpcTestHarness.StartAsync(ipc => ipc.AddServer("calculator", s => s.MapMessage<string>("log", (_, _, _) => default)));

        var ex = await Assert.ThrowsAsync<TimeoutException>(() => harness.WaitForHandledAsync("calculator", "log", 1, TimeSpan.FromMilliseconds(50)));

        Assert.Contains("handled 0 of the 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Harness_PublishedMessage_IsRecordedAsPublishWhenSentAndWhenReceived()
    {
        await using var harness = await IpcTestHarness.StartAsync(ipc => ipc.AddServer("shop", s => s
            .WithServiceName($"billing-{Guid.NewGuid():N}")
            .MapSubscription<string>("order-placed", (_, _, _) => default)
            .MapMessage<string>("log", (_, _, _) => default)));
        var channel = harness.GetChannel("shop");

        await channel.PublishAsync("order-placed", "order 1");
        await channel.SendAsync("log", "hello");
        await harness.WaitForHandledAsync("shop", "order-placed", 1, TestSupport.Bound);
        await harness.WaitForHandledAsync("shop", "log", 1, TestSupport.Bound);

        Assert.Equal([(RecordedKind.Publish, "order-placed"), (RecordedKind.OneWay, "log")], harness.Sent.Select(m => (m.Kind, m.Message.Route)));
        Assert.Equal([(RecordedKind.OneWay, "log"), (RecordedKind.Publish, "order-placed")], harness.Received.Select(m => (m.Kind, m.Message.Route)).OrderBy(m => m.Route, StringComparer.Ordinal));
        Assert.Equal("order 1", Assert.Single(harness.Handled<string>("shop", "order-placed")));
    }
}
