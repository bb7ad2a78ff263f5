using System.Collections.Concurrent;

namespace Ipc.Transports.Streams;

/// <summary>A call of a connection's <see cref="CallTable{T}"/>: the id it is filed under.</summary>
internal interface ICallTableEntry
{
    /// <summary>Gets the call's id on its connection.</summary>
    uint CallId { get; }
}

/// <summary>
/// A connection's calls in flight by id. Ids are handed out in order, so the calls in flight at one time mostly fall in
/// different slots of a small array, filed and taken out with one compare-and-swap each, without the lock and the node
/// a dictionary takes for each call; a call whose slot is taken (a long stream beside ids that went round the array, or
/// ids a peer chose) goes to a dictionary beside it. Ids 128 apart share a slot.
/// </summary>
/// <remarks>
/// Thread-safe, on one condition: calls added at the same time have different ids (a client numbers its own calls; a
/// server adds from its one frame loop). An id is in one place only, the array or the dictionary, until it is removed.
/// </remarks>
internal sealed class CallTable<T>
    where T : class, ICallTableEntry
{
    private const int Slots = 128;

    private readonly T?[] _slots = new T?[Slots];
    private readonly ConcurrentDictionary<uint, T> _overflow = new();
    private int _overflowCount;

    /// <summary>
    /// The slot of an id: ids in a row go 17 slots apart (a bijection on 128 slots), so calls in flight together are on
    /// different cache lines, and a caller filing one does not take the line from the reader taking out another.
    /// </summary>
    private static int Index(uint id) => (int)((id * 17) & (Slots - 1));

    /// <summary>Files <paramref name="call"/> under <paramref name="id"/>; <see langword="false"/> when a call is already filed under it.</summary>
    public bool TryAdd(uint id, T call)
    {
        if (TryGetValue(id, out _))
        {
            return false;
        }

        if (Interlocked.CompareExchange(ref _slots[Index(id)], call, null) is null)
        {
            return true;
        }

        Interlocked.Increment(ref _overflowCount);
        if (_overflow.TryAdd(id, call))
        {
            return true;
        }

        Interlocked.Decrement(ref _overflowCount);
        return false;
    }

    public bool TryGetValue(uint id, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out T call)
    {
        var filed = Volatile.Read(ref _slots[Index(id)]);
        if (filed is not null && filed.CallId == id)
        {
            call = filed;
            return true;
        }

        call = null;
        return Volatile.Read(ref _overflowCount) != 0 && _overflow.TryGetValue(id, out call);
    }

    /// <summary>Takes out the call filed under <paramref name="id"/>, if any.</summary>
    public bool TryRemove(uint id, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out T call) => TryRemove(id, null, out call);

    /// <summary>Takes out <paramref name="call"/>, if it is still filed under <paramref name="id"/>.</summary>
    public bool TryRemove(uint id, T call) => TryRemove(id, call, out _);

    /// <summary>Gets the calls filed now.</summary>
    public List<T> Snapshot()
    {
        var calls = new List<T>();
        foreach (var call in _slots)
        {
            if (call is not null)
            {
                calls.Add(call);
            }
        }

        if (Volatile.Read(ref _overflowCount) != 0)
        {
            calls.AddRange(_overflow.Values);
        }

        return calls;
    }

    private bool TryRemove(uint id, T? expected, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out T call)
    {
        ref var slot = ref _slots[Index(id)];
        var filed = Volatile.Read(ref slot);
        if (filed is not null && filed.CallId == id)
        {
            if ((expected is null || ReferenceEquals(filed, expected)) && Interlocked.CompareExchange(ref slot, null, filed) == filed)
            {
                call = filed;
                return true;
            }

            call = null;
            return false; // another call, or taken out meanwhile: an id is filed in one place only
        }

        if (Volatile.Read(ref _overflowCount) != 0)
        {
            T? taken = null;
            if (expected is null ? _overflow.TryRemove(id, out taken) : _overflow.TryRemove(new KeyValuePair<uint, T>(id, expected)))
            {
                Interlocked.Decrement(ref _overflowCount);
                call = taken ?? expected!;
                return true;
            }
        }

        call = null;
        return false;
    }
}
