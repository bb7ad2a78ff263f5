using AmqpChannel = RabbitMQ.Client.IChannel; // RabbitMQ.Client's channel, not Ipc.IChannel

namespace Ipc.Amqp;

/// <summary>
/// The acknowledgements of one consumer channel, coalesced: handlers that finish together are acknowledged by one
/// acknowledgement, with AMQP's <c>multiple</c> flag, as far as every earlier delivery of the channel is settled too.
/// </summary>
/// <remarks>
/// <para>
/// A broker does work for every acknowledgement (a quorum queue writes each to its log), so one for many deliveries
/// leaves it more time for messages. Nothing waits for a handler that has not finished: a handler alone on its channel
/// is acknowledged at once; while others run, the finished one first lets the thread pool run what is queued, so that
/// those finishing at the same moment join its acknowledgement, and one finishing while acknowledgements are being sent
/// is taken along by that sender. A delivery is acknowledged only after its handler succeeded; <c>multiple</c> never
/// covers a delivery whose handler is running, failed or was left unacknowledged on purpose, since it acknowledges only
/// up to the first of those. A handler that finished behind one still running is acknowledged on its own.
/// </para>
/// <para>
/// Delivery tags of a channel rise by one with each delivery, and RabbitMQ.Client keeps them rising over a recovered
/// connection (acknowledgements of deliveries from before it are dropped, as the broker delivers those again). Should a
/// tag ever not rise, coalescing stops and every delivery is acknowledged on its own.
/// </para>
/// </remarks>
internal sealed class AmqpAcknowledgements(AmqpChannel channel)
{
    private const byte Running = 0;
    private const byte ToAck = 1;
    private const byte ToRequeue = 2;
    private const byte Settled = 3;

    private readonly object _gate = new();

    // The deliveries not yet settled, oldest first, in a ring whose capacity is a power of two.
    private ulong[] _tags = new ulong[64];
    private byte[] _states = new byte[64];
    private int _head;
    private int _count;
    private ulong _lastTag;
    private bool _unordered;
    private int _running;
    private bool _busy;

    /// <summary>Records a delivery as its consumer receives it, before its handler starts.</summary>
    public void Delivered(ulong tag)
    {
        lock (_gate)
        {
            if (_unordered)
            {
                return;
            }

            if (tag <= _lastTag)
            {
                _unordered = true;
                return;
            }

            _lastTag = tag;
            if (_count == _tags.Length)
            {
                Grow();
            }

            var index = (_head + _count) & (_tags.Length - 1);
            _tags[index] = tag;
            _states[index] = Running;
            _count++;
            _running++;
        }
    }

    /// <summary>
    /// Settles a delivery: acknowledges it, or returns it to its queue (<paramref name="ack"/> false). The returned task
    /// completes once this call's acknowledgement, and any others it took along, were sent; when one was on its way
    /// already, the call returns at once and that one's sender sends it next.
    /// </summary>
    public Task SettleAsync(ulong tag, bool ack)
    {
        bool recorded = false, start = false, others = false;
        lock (_gate)
        {
            var index = _unordered ? -1 : Find(tag);
            if (index >= 0)
            {
                recorded = true;
                _states[index] = ack ? ToAck : ToRequeue;
                _running--;
                if (!_busy)
                {
                    _busy = start = true;
                    others = _running > 0;
                }
            }
        }

        if (!recorded)
        {
            return SendAsync(tag, ack ? Operation.Ack : Operation.Requeue); // not recorded: on its own
        }

        return start ? RunAsync(others) : Task.CompletedTask;
    }

    /// <summary>
    /// Sends what there is to send until nothing is left. When other handlers of the channel are running, it first lets
    /// the thread pool run what is queued (those that finish at the same time), so that one acknowledgement takes them
    /// along; alone, it sends at once.
    /// </summary>
    private async Task RunAsync(bool others)
    {
        try
        {
            if (others)
            {
                await Task.Yield();
            }

            while (true)
            {
                ulong tag;
                Operation operation;
                lock (_gate)
                {
                    if (!TryTake(out tag, out operation))
                    {
                        _busy = false;
                        return;
                    }
                }

                await SendAsync(tag, operation).ConfigureAwait(false);
            }
        }
        catch
        {
            lock (_gate)
            {
                _busy = false;
            }

            throw;
        }
    }

    private async Task SendAsync(ulong tag, Operation operation)
    {
        try
        {
            switch (operation)
            {
                case Operation.Ack:
                    await channel.BasicAckAsync(tag, multiple: false).ConfigureAwait(false);
                    break;
                case Operation.AckAllUpTo:
                    await channel.BasicAckAsync(tag, multiple: true).ConfigureAwait(false);
                    break;
                default:
                    await channel.BasicNackAsync(tag, multiple: false, requeue: true).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception ex) when (AmqpErrors.IsConnectionFailure(ex))
        {
            // The channel closed: the broker delivers the message again.
        }
    }

    /// <summary>The next acknowledgement to send, if any: the settled run at the front in one, else a delivery to return, else one finished behind a running one.</summary>
    private bool TryTake(out ulong tag, out Operation operation)
    {
        var mask = _tags.Length - 1;
        while (_count > 0 && _states[_head] == Settled)
        {
            Pop();
        }

        if (_count > 0 && _states[_head] == ToAck && !_unordered)
        {
            // The run of finished deliveries at the front, up to the last one to acknowledge before a running one.
            var acks = 0;
            var last = -1;
            for (var i = 0; i < _count; i++)
            {
                var state = _states[(_head + i) & mask];
                if (state == ToAck)
                {
                    acks++;
                    last = i;
                }
                else if (state != Settled)
                {
                    break;
                }
            }

            tag = _tags[(_head + last) & mask];
            operation = acks > 1 ? Operation.AckAllUpTo : Operation.Ack;
            for (var i = 0; i <= last; i++)
            {
                Pop();
            }

            return true;
        }

        for (var i = 0; i < _count; i++)
        {
            var index = (_head + i) & mask;
            if (_states[index] is ToAck or ToRequeue)
            {
                tag = _tags[index];
                operation = _states[index] == ToAck ? Operation.Ack : Operation.Requeue;
                _states[index] = Settled;
                return true;
            }
        }

        tag = 0;
        operation = default;
        return false;
    }

    private void Pop()
    {
        _head = (_head + 1) & (_tags.Length - 1);
        _count--;
    }

    private int Find(ulong tag)
    {
        // Tags rise along the ring: a binary search over its order.
        var mask = _tags.Length - 1;
        int low = 0, high = _count - 1;
        while (low <= high)
        {
            var middle = low + ((high - low) >> 1);
            var index = (_head + middle) & mask;
            var found = _tags[index];
            if (found == tag)
            {
                return _states[index] == Running ? index : -1;
            }

            if (found < tag)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return -1;
    }

    private void Grow()
    {
        var tags = new ulong[_tags.Length * 2];
        var states = new byte[tags.Length];
        for (var i = 0; i < _count; i++)
        {
            var index = (_head + i) & (_tags.Length - 1);
            tags[i] = _tags[index];
            states[i] = _states[index];
        }

        _tags = tags;
        _states = states;
        _head = 0;
    }

    private enum Operation
    {
        Ack,
        AckAllUpTo,
        Requeue,
    }
}
