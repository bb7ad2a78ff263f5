namespace Ipc.SharedMemory;

/// <summary>
/// One single-producer single-consumer byte ring in the shared mapping: a control block of cache lines (so the two sides
/// do not share one they write) and the data. <see cref="Tail"/> and <see cref="Head"/> only grow; the bytes from head to
/// tail are readable, the index of a position is its value modulo the size.
/// </summary>
/// <remarks>
/// Control block layout (offsets in bytes): 0 tail (i64, written by the writer); 64 head (i64, written by the reader);
/// 128 data sequence (i32 futex word the reader sleeps on), 132 reader-waiting flag, 136 writer-closed flag;
/// 192 space sequence (i32 futex word the writer sleeps on when the ring is full), 196 writer-waiting flag,
/// 200 reader-closed flag.
/// </remarks>
internal readonly unsafe struct Ring(byte* control, byte* data, int size)
{
    public long* Tail => (long*)control;

    public long* Head => (long*)(control + 64);

    public int* DataSequence => (int*)(control + 128);

    public int* ReaderWaiting => (int*)(control + 132);

    public int* WriterClosed => (int*)(control + 136);

    public int* SpaceSequence => (int*)(control + 192);

    public int* WriterWaiting => (int*)(control + 196);

    public int* ReaderClosed => (int*)(control + 200);

    public byte* Data => data;

    public int Size => size;

    /// <summary>Gets the number of readable bytes.</summary>
    public long Available => Volatile.Read(ref *Tail) - Volatile.Read(ref *Head);

    /// <summary>Copies up to <paramref name="destination"/>'s length out of the ring and frees the room; returns how many.</summary>
    public int Take(Span<byte> destination)
    {
        var head = Volatile.Read(ref *Head);
        var available = Volatile.Read(ref *Tail) - head; // acquire: the bytes before tail are written
        if ((ulong)available > (ulong)size)
        {
            throw Corrupt(head, head + available);
        }

        var count = (int)Math.Min(available, destination.Length);
        if (count == 0)
        {
            return 0;
        }

        var index = (int)(head & (size - 1));
        var first = Math.Min(count, size - index);
        new ReadOnlySpan<byte>(data + index, first).CopyTo(destination);
        if (first < count)
        {
            new ReadOnlySpan<byte>(data, count - first).CopyTo(destination[first..]);
        }

        Volatile.Write(ref *Head, head + count); // release: the room is free once the copy is done
        Interlocked.MemoryBarrier(); // the head is visible before the writer-waiting flag is read (its store, then our load)
        if (Volatile.Read(ref *WriterWaiting) != 0)
        {
            Signal(SpaceSequence);
        }

        return count;
    }

    /// <summary>Copies as much of <paramref name="source"/> as there is room for into the ring; returns how many.</summary>
    /// <param name="source">The bytes to write.</param>
    /// <param name="knownHead">
    /// The head as the writer last read it, which is never ahead of the real one: the writer reads the head again only
    /// when that leaves too little room for <paramref name="source"/>. The reader writes the head after every read, so
    /// reading it on every write would fetch its cache line from the reader's processor each time, and make the reader's
    /// next write of it fetch the line back.
    /// </param>
    /// <param name="tail">
    /// The tail, which only the writer moves, so it keeps it in memory of its own and never reads it back from the
    /// mapping. The reader polls the tail's cache line all the time; reading it back before each write was the largest
    /// stall of a busy pair's write path in a profile, and made a round trip 1.04 to 1.13 times as long in alternated
    /// runs.
    /// </param>
    public int Put(ReadOnlySpan<byte> source, ref long knownHead, ref long tail)
    {
        var head = knownHead;
        if (tail - head + source.Length > size)
        {
            head = knownHead = Volatile.Read(ref *Head);
        }

        if ((ulong)(tail - head) > (ulong)size)
        {
            throw Corrupt(head, tail);
        }

        var room = size - (tail - head);
        var count = (int)Math.Min(room, source.Length);
        if (count == 0)
        {
            return 0;
        }

        var index = (int)(tail & (size - 1));
        var first = Math.Min(count, size - index);
        source[..first].CopyTo(new Span<byte>(data + index, first));
        if (first < count)
        {
            source[first..count].CopyTo(new Span<byte>(data, count - first));
        }

        tail += count;
        Volatile.Write(ref *Tail, tail); // release: the reader sees the bytes before the new tail
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref *ReaderWaiting) != 0)
        {
            Signal(DataSequence);
        }

        return count;
    }

    /// <summary>The peer wrote a head or tail that no ring of this size can have: the connection is broken, never read past the data.</summary>
    private IOException Corrupt(long head, long tail) =>
        new($"The shared-memory ring is corrupt (head {head}, tail {tail}, size {size}); the peer broke the protocol, so the connection is closed.");

    /// <summary>Bumps a futex word and wakes whoever sleeps on it (a sleeper that read the old value does not go to sleep).</summary>
    public static void Signal(int* word)
    {
        Interlocked.Increment(ref *word);
        NativeMethods.Wake(word);
    }
}
