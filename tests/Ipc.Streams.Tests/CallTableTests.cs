using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

public sealed class CallTableTests
{
    [Fact]
    public void TryAdd_ThenTryRemove_FindsTheCallOnceByItsId()
    {
        var table = new CallTable<Call>();
        var call = new Call(7);

        Assert.True(table.TryAdd(7, call));
        Assert.True(table.TryGetValue(7, out var found));
        Assert.Same(call, found);
        Assert.False(table.TryGetValue(8, out _));

        Assert.True(table.TryRemove(7, out var removed));
        Assert.Same(call, removed);
        Assert.False(table.TryRemove(7, out _));
        Assert.False(table.TryGetValue(7, out _));
        Assert.Empty(table.Snapshot());
    }

    [Fact]
    public void TryAdd_IdsThatShareASlot_KeepsEveryCallFindableAndRemovable()
    {
        var table = new CallTable<Call>();

        // Ids 128 apart share a slot: the first takes it, the others go beside it.
        var calls = Enumerable.Range(0, 5).Select(i => new Call(3 + (uint)(i * 128))).ToList();
        foreach (var call in calls)
        {
            Assert.True(table.TryAdd(call.CallId, call));
        }

        Assert.Equal(calls.OrderBy(c => c.CallId), table.Snapshot().OrderBy(c => c.CallId));
        foreach (var call in calls)
        {
            Assert.True(table.TryGetValue(call.CallId, out var found));
            Assert.Same(call, found);
        }

        // Taking out the one in the slot leaves the others where they are.
        Assert.True(table.TryRemove(3, out _));
        Assert.True(table.TryGetValue(3 + 128, out _));
        foreach (var call in calls.Skip(1))
        {
            Assert.True(table.TryRemove(call.CallId, out var removed));
            Assert.Same(call, removed);
        }

        Assert.Empty(table.Snapshot());
        Assert.False(table.TryGetValue(3 + 256, out _));
    }

    [Fact]
    public void TryAdd_AnIdAlreadyFiled_IsRefusedInTheSlotAndBesideIt()
    {
        var table = new CallTable<Call>();
        Assert.True(table.TryAdd(5, new Call(5)));
        Assert.True(table.TryAdd(5 + 128, new Call(5 + 128))); // beside the slot

        Assert.False(table.TryAdd(5, new Call(5)));
        Assert.False(table.TryAdd(5 + 128, new Call(5 + 128)));
        Assert.Equal(2, table.Snapshot().Count);
    }

    [Fact]
    public void TryRemove_AnotherCallUnderTheSameId_LeavesTheFiledOne()
    {
        var table = new CallTable<Call>();
        var filed = new Call(9);
        var beside = new Call(9 + 128);
        Assert.True(table.TryAdd(9, filed));
        Assert.True(table.TryAdd(9 + 128, beside));

        Assert.False(table.TryRemove(9, new Call(9)));
        Assert.False(table.TryRemove(9 + 128, new Call(9 + 128)));
        Assert.True(table.TryGetValue(9, out _));
        Assert.True(table.TryGetValue(9 + 128, out _));

        Assert.True(table.TryRemove(9, filed));
        Assert.True(table.TryRemove(9 + 128, beside));
        Assert.Empty(table.Snapshot());
    }

    [Fact]
    public async Task TryAddAndTryRemove_ManyThreadsWithTheirOwnIds_LoseNoCall()
    {
        var table = new CallTable<Call>();
        var next = 0u;
        var added = 0;
        var removed = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            var mine = new List<Call>();
            for (var i = 0; i < 20_000; i++)
            {
                var call = new Call(Interlocked.Increment(ref next));
                Assert.True(table.TryAdd(call.CallId, call));
                Interlocked.Increment(ref added);
                mine.Add(call);
                if (mine.Count > 200)
                {
                    // Some calls stay long while ids go round the slots many times over.
                    var done = mine[i % 3 == 0 ? 0 : mine.Count / 2];
                    mine.Remove(done);
                    Assert.True(table.TryRemove(done.CallId, out var taken));
                    Assert.Same(done, taken);
                    Interlocked.Increment(ref removed);
                }
            }
        })));

        Assert.Equal(added - removed, table.Snapshot().Count);
    }

    private sealed class Call(uint id) : ICallTableEntry
    {
        public uint CallId => id;
    }
}
