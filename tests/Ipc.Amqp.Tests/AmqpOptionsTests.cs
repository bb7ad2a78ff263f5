using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Amqp.Tests;

/// <summary>The queue and publishing options away from their defaults, with the broker's queues seen as an operator sees them.</summary>
public sealed class AmqpOptionsTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = AmqpTestHost.Bound;
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    [Theory]
    [InlineData(true, true, true, "quorum")] // the defaults
    [InlineData(true, false, true, null)] // durable classic queues
    [InlineData(false, true, true, null)] // transient: classic, whatever QuorumQueues says
    [InlineData(true, true, false, "quorum")] // no publisher confirms
    public async Task SendAsync_QueueOptions_DeliverThroughTheQueuesTheySay(bool durable, bool quorumQueues, bool publisherConfirms, string? type)
    {
        var address = AmqpTestAddresses.New("options");
        void Options(AmqpTransportOptions o)
        {
            o.Durable = durable;
            o.QuorumQueues = quorumQueues;
            o.PublisherConfirms = publisherConfirms;
        }

        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _hosts.StartServerAsync(address, s => s.MapMessage<string>("note", (text, _, _) =>
        {
            received.TrySetResult(text);
            return default;
        }), Options);
        var client = _hosts.CreateClient(address, Options);

        await client.SendAsync("note", "hello").AsTask().WaitAsync(Bound);

        Assert.Equal("hello", await received.Task.WaitAsync(Bound));
        await using var raw = await RawAmqp.ConnectAsync(address);
        var queue = AmqpTopology.SendQueue(RawAmqp.NameOf(address), "note");
        Assert.True(await raw.IsAsync(queue, durable, type), $"{queue} is not {(durable ? "durable" : "transient")} {type ?? "classic"}");
        Assert.False(await raw.IsAsync(queue, !durable, type), $"{queue} is also {(durable ? "transient" : "durable")}");
        Assert.False(await raw.IsAsync(queue, durable, type is null ? "quorum" : null), $"{queue} is also of the other type");
    }

    /// <summary>
    /// With PublisherConfirms off a send completes once written, so a send to a route no server declared a queue for
    /// cannot fail with NoHandler: it completes, and the broker's return of the message is logged (event 1706).
    /// </summary>
    [Fact]
    public async Task SendAsync_NoQueueWithPublisherConfirmsOff_CompletesAndTheReturnIsLogged()
    {
        var address = AmqpTestAddresses.New("unconfirmed");
        using var returned = new LogWatch(1706);
        var services = _hosts.CreateClientServices(address, o => o.PublisherConfirms = false, logs: returned);
        var client = services.GetRequiredService<IIpcClientFactory>().GetChannel(AmqpTestHost.Endpoint);

        await client.SendAsync("ship", "nowhere").AsTask().WaitAsync(Bound);

        var logged = await returned.Logged.WaitAsync(Bound);
        Assert.Contains(AmqpTopology.SendQueue(RawAmqp.NameOf(address), "ship"), logged, StringComparison.Ordinal);
    }
}
