using System.Reflection;
using AmqpChannel = RabbitMQ.Client.IChannel;

namespace Ipc.Amqp.Tests;

/// <summary>
/// The server's coalesced acknowledgements, against a channel that records what would go to the broker and checks each
/// acknowledgement as the broker would, plus what the broker cannot see: that none covers a delivery still running.
/// </summary>
public sealed class AmqpAcknowledgementsTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Settle_HandlersFinishingWhileAnAckIsOnItsWay_OneMultipleAckTakesThemAlong()
    {
        var channel = BrokerChannel.Create();
        var acks = new AmqpAcknowledgements(channel.Proxy);
        Deliver(acks, channel, 1, 5);

        await SettleWhileTheFirstIsOnItsWayAsync(acks, channel, 1, (2, true), (3, true), (4, true));

        Assert.Equal(["ack 1", "ack 4 multiple"], channel.Calls);
        Assert.Equal([5UL], channel.Unsettled);
        Assert.Empty(channel.Violations);
    }

    [Fact]
    public async Task Settle_BehindARunningHandler_EachOnItsOwnAndTheRunningOneNotCovered()
    {
        var channel = BrokerChannel.Create();
        var acks = new AmqpAcknowledgements(channel.Proxy);
        Deliver(acks, channel, 1, 3);

        await Settle(acks, channel, 2, ack: true).WaitAsync(s_wait);
        await Settle(acks, channel, 3, ack: true).WaitAsync(s_wait);
        Assert.Equal(["ack 2", "ack 3"], channel.Calls);
        Assert.Equal([1UL], channel.Unsettled);

        await Settle(acks, channel, 1, ack: true).WaitAsync(s_wait);
        Assert.Equal(["ack 2", "ack 3", "ack 1"], channel.Calls);
        Assert.Empty(channel.Unsettled);
        Assert.Empty(channel.Violations);
    }

    [Fact]
    public async Task Settle_ReturnedDelivery_NackedOnItsOwnAndNeverCoveredByAMultipleAck()
    {
        var channel = BrokerChannel.Create();
        var acks = new AmqpAcknowledgements(channel.Proxy);
        Deliver(acks, channel, 1, 4);

        await SettleWhileTheFirstIsOnItsWayAsync(acks, channel, 1, (2, false), (3, true), (4, true));

        Assert.Equal(["ack 1", "nack 2", "ack 4 multiple"], channel.Calls);
        Assert.Empty(channel.Unsettled);
        Assert.Empty(channel.Violations);
    }

    [Fact]
    public async Task Settle_TagsThatDoNotRise_EachAcknowledgedOnItsOwn()
    {
        var channel = BrokerChannel.Create();
        var acks = new AmqpAcknowledgements(channel.Proxy);
        Deliver(acks, channel, 5, 6);
        Deliver(acks, channel, 3, 3);

        await SettleWhileTheFirstIsOnItsWayAsync(acks, channel, 5, (6, true));
        await Settle(acks, channel, 3, ack: true).WaitAsync(s_wait);

        Assert.Equal(["ack 5", "ack 6", "ack 3"], channel.Calls);
        Assert.Empty(channel.Unsettled);
        Assert.Empty(channel.Violations);
    }

    [Fact]
    public async Task Settle_ManyHandlersFinishingInAnyOrderAtOnce_EachSettledOnceAndOnlyAfterItsHandler()
    {
        const int Deliveries = 2_000;
        var channel = BrokerChannel.Create(yieldOnSend: true);
        var acks = new AmqpAcknowledgements(channel.Proxy);
        Deliver(acks, channel, 1, Deliveries);
        var order = Enumerable.Range(1, Deliveries).Select(t => (ulong)t).OrderBy(_ => Random.Shared.Next()).ToArray();

        var settled = order.Select(tag => Task.Run(() => Settle(acks, channel, tag, ack: tag % 97 != 0))).ToArray();
        await Task.WhenAll(settled).WaitAsync(s_wait);

        Assert.Empty(channel.Unsettled);
        Assert.Empty(channel.Violations);
        Assert.Contains(channel.Calls, call => call.EndsWith("multiple", StringComparison.Ordinal));
    }

    /// <summary>
    /// Acknowledges <paramref name="first"/> and keeps that acknowledgement on its way while the others are settled (each
    /// returning at once, as the sender in flight takes it along), then lets it go and waits for the sender to finish.
    /// </summary>
    private static async Task SettleWhileTheFirstIsOnItsWayAsync(AmqpAcknowledgements acks, BrokerChannel channel, ulong first, params (ulong Tag, bool Ack)[] others)
    {
        channel.HoldNext();
        var sender = Settle(acks, channel, first, ack: true);
        await channel.Held.Task.WaitAsync(s_wait);
        foreach (var (tag, ack) in others)
        {
            await Settle(acks, channel, tag, ack).WaitAsync(s_wait);
        }

        channel.Release();
        await sender.WaitAsync(s_wait);
    }

    private static void Deliver(AmqpAcknowledgements acks, BrokerChannel channel, int first, int last)
    {
        for (var tag = (ulong)first; tag <= (ulong)last; tag++)
        {
            channel.Delivered(tag);
            acks.Delivered(tag);
        }
    }

    private static Task Settle(AmqpAcknowledgements acks, BrokerChannel channel, ulong tag, bool ack)
    {
        channel.Finished(tag, ack);
        return acks.SettleAsync(tag, ack);
    }

    /// <summary>
    /// A channel that keeps the broker's side of acknowledgements: the deliveries not yet settled, which a multiple ack
    /// settles up to its tag and which a tag not among them would have the broker close the channel for. It also knows
    /// which handlers finished, and reports an acknowledgement of a delivery whose handler had not.
    /// </summary>
    public class BrokerChannel : DispatchProxy
    {
        private readonly object _gate = new();
        private readonly SortedSet<ulong> _unsettled = [];
        private readonly Dictionary<ulong, bool> _finished = [];
        private TaskCompletionSource? _release;
        private bool _holdNext;
        private bool _yieldOnSend;

        public AmqpChannel Proxy { get; private set; } = null!;

        public List<string> Calls { get; } = [];

        public List<string> Violations { get; } = [];

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ulong[] Unsettled
        {
            get
            {
                lock (_gate)
                {
                    return [.. _unsettled];
                }
            }
        }

        public static BrokerChannel Create(bool yieldOnSend = false)
        {
            var proxy = DispatchProxy.Create<AmqpChannel, BrokerChannel>();
            var channel = (BrokerChannel)(object)proxy;
            channel.Proxy = proxy;
            channel._yieldOnSend = yieldOnSend;
            return channel;
        }

        public void Delivered(ulong tag)
        {
            lock (_gate)
            {
                _unsettled.Add(tag);
            }
        }

        public void Finished(ulong tag, bool ack)
        {
            lock (_gate)
            {
                _finished[tag] = ack;
            }
        }

        /// <summary>Keeps the next acknowledgement on its way until <see cref="Release"/>.</summary>
        public void HoldNext() => _holdNext = true;

        public void Release() => _release!.TrySetResult();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            var tag = (ulong)args![0]!;
            var multiple = (bool)args[1]!;
            lock (_gate)
            {
                switch (targetMethod!.Name)
                {
                    case "BasicAckAsync":
                        Calls.Add(multiple ? $"ack {tag} multiple" : $"ack {tag}");
                        Settle(tag, multiple, ack: true);
                        break;
                    case "BasicNackAsync":
                        Calls.Add($"nack {tag}");
                        Settle(tag, multiple, ack: false);
                        break;
                    default:
                        throw new NotSupportedException(targetMethod.Name);
                }

                if (_holdNext)
                {
                    _holdNext = false;
                    _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Held.TrySetResult();
                    return new ValueTask(_release.Task);
                }
            }

            return _yieldOnSend && Random.Shared.Next(4) == 0 ? new ValueTask(Task.Run(() => { })) : default(ValueTask);
        }

        private void Settle(ulong tag, bool multiple, bool ack)
        {
            if (!_unsettled.Contains(tag))
            {
                Violations.Add($"unknown delivery tag {tag}"); // the broker would close the channel
                return;
            }

            foreach (var settled in multiple ? _unsettled.GetViewBetween(0, tag).ToList() : [tag])
            {
                if (!_finished.TryGetValue(settled, out var finished) || finished != ack)
                {
                    Violations.Add($"{(ack ? "ack" : "nack")} {tag}{(multiple ? " multiple" : string.Empty)} settles {settled}, whose handler {(_finished.ContainsKey(settled) ? "asked otherwise" : "is running")}");
                }

                _unsettled.Remove(settled);
            }
        }
    }
}
