using System.Collections.Concurrent;

namespace Ipc.Amqp.Tests;

/// <summary>
/// 10,000 durable one-way messages sent by 16 concurrent senders through the resilience pipeline, while a broker failure
/// is made in the middle; counts what the server handled, duplicates included.
/// </summary>
internal sealed class DurableStreamRun
{
    public const int Count = 10_000;
    private const int Senders = 16;

    private readonly ConcurrentDictionary<int, int> _handled = new();
    private readonly TaskCompletionSource _midway = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _deliveries;

    /// <summary>Gets how many deliveries the handler saw in all.</summary>
    public int Deliveries => Volatile.Read(ref _deliveries);

    /// <summary>Gets how many deliveries were of a message handled before.</summary>
    public int Duplicates => Deliveries - _handled.Count;

    /// <summary>Maps the route the run sends to; with <paramref name="duplicateFilter"/>, the server drops redeliveries of what it handled.</summary>
    public void Map(IpcServerBuilder server, bool duplicateFilter)
    {
        server.MapMessage<Order>("ship", (order, _, _) =>
        {
            _handled.AddOrUpdate(order.Id, 1, (_, n) => n + 1);
            var deliveries = Interlocked.Increment(ref _deliveries);
            if (deliveries >= Count * 3 / 10)
            {
                _midway.TrySetResult();
            }

            if (_handled.Count == Count)
            {
                _all.TrySetResult();
            }

            return ValueTask.CompletedTask;
        });
        if (duplicateFilter)
        {
            server.UseDuplicateFilter(2 * Count);
        }
    }

    /// <summary>Sends every message, runs <paramref name="failure"/> once 30% have been handled, and waits until every message was handled.</summary>
    public async Task RunAsync(IChannel client, Func<Task> failure)
    {
        var senders = Enumerable.Range(0, Senders).Select(sender => Task.Run(async () =>
        {
            for (var i = sender; i < Count; i += Senders)
            {
                await client.SendAsync("ship", new Order(i));
            }
        })).ToList();

        await _midway.Task.WaitAsync(TimeSpan.FromMinutes(2));
        var before = _handled.Count;
        await failure();
        Assert.True(before < Count, "every message had been handled before the failure: it was not in the middle");
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromMinutes(3));
        await _all.Task.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(Enumerable.Range(0, Count), _handled.Keys.Order());
    }
}
