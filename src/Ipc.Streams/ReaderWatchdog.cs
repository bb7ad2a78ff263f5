namespace Ipc.Transports.Streams;

/// <summary>Work a connection's dedicated reader runs itself, between reads: a request's handler, a call's completion.</summary>
internal interface IReaderWork
{
    /// <summary>Runs the work; never throws.</summary>
    void Run();
}

/// <summary>
/// Watches the dedicated readers that run handlers and completions themselves. A reader held by one piece of work for
/// longer than <see cref="Threshold"/> (a handler that computes or blocks, a caller that waits on another call) is
/// replaced: a new thread takes over reading, so the connection's other calls go on.
/// </summary>
/// <remarks>
/// One timer per process, ticking only while readers run work: it checks every <see cref="Threshold"/>, and stops once
/// no reader has run any for a while. A reader marks its work with two interlocked writes and no clock reads.
/// </remarks>
internal static class ReaderWatchdog
{
    /// <summary>How long one piece of work may hold a reader, at least, before the reader is replaced (about twice this at most).</summary>
    public static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(1);

    private const int IdleChecks = 200;
    private static readonly object s_gate = new();
    private static readonly List<StreamDuplexConnection> s_readers = [];
    private static StreamDuplexConnection[] s_snapshot = [];
    private static ITimer? s_timer;
    private static int s_watching;
    private static int s_checking;
    private static int s_idle;

    public static void Add(StreamDuplexConnection connection)
    {
        lock (s_gate)
        {
            s_readers.Add(connection);
            s_snapshot = [.. s_readers];
        }
    }

    public static void Remove(StreamDuplexConnection connection)
    {
        lock (s_gate)
        {
            if (s_readers.Remove(connection))
            {
                s_snapshot = [.. s_readers];
            }
        }
    }

    /// <summary>Called by a reader that has just marked work as running: starts the checks when they are stopped.</summary>
    public static void Watch()
    {
        if (Volatile.Read(ref s_watching) != 0)
        {
            return;
        }

        lock (s_gate)
        {
            if (s_watching != 0)
            {
                return;
            }

            s_watching = 1;
            s_idle = 0;
            s_timer ??= TimeProvider.System.CreateTimer(static _ => Check(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            s_timer.Change(Threshold, Threshold);
        }
    }

    private static void Check()
    {
        if (Interlocked.Exchange(ref s_checking, 1) != 0)
        {
            return; // the previous check is still running
        }

        try
        {
            var busy = false;
            foreach (var reader in Volatile.Read(ref s_snapshot))
            {
                busy |= reader.CheckReaderWork();
            }

            if (busy)
            {
                s_idle = 0;
                return;
            }

            if (++s_idle < IdleChecks)
            {
                return;
            }

            // Nothing ran for a while: stop ticking. A reader that marked work before it could see the flag cleared is
            // found by the check after clearing it; one that marks work later sees the flag cleared and starts us again.
            lock (s_gate)
            {
                Volatile.Write(ref s_watching, 0);
                Interlocked.MemoryBarrier();
                foreach (var reader in s_snapshot)
                {
                    if (reader.IsRunningReaderWork)
                    {
                        s_watching = 1;
                        s_idle = 0;
                        return;
                    }
                }

                s_timer!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }
        finally
        {
            Volatile.Write(ref s_checking, 0);
        }
    }
}
