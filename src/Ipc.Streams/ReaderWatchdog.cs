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
/// replaced: a new thread takes over reading, so the connection's other calls go on. Periods the collector paused the
/// process or the JIT compiler compiled for most of do not count.
/// </summary>
/// <remarks>
/// One watchdog per <see cref="TimeProvider"/> (endpoints share the system one), ticking only while readers run work: it
/// checks every <see cref="Threshold"/>, and stops once no reader has run any for a while. On the system clock the checks
/// run on a thread of the watchdog's own that sleeps between them: a timer would wake the timer thread and then a thread
/// pool worker at each check, and the worker would spin for more work after it. Other time providers (fake time in
/// tests) tick with their timer. A reader marks its work with two interlocked writes and no clock reads.
/// </remarks>
internal sealed class ReaderWatchdog
{
    /// <summary>How long one piece of work may hold a reader, at least, before the reader is replaced (about twice this at most).</summary>
    /// <remarks>
    /// Also the period of the checks. Each one wakes the watchdog's thread, which takes a processor from a running thread
    /// for 5 to 50 us: on a machine whose processors are busy with readers (two processes calling each other on two
    /// processors), a call in flight then waits. Checked every millisecond, 2.5 times as many calls took over 10 us.
    /// </remarks>
    public static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(10);

    /// <summary>The checks in a row that find no reader running work before they stop: about 200 ms.</summary>
    private const int IdleChecks = 20;
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TimeProvider, ReaderWatchdog> s_watchdogs = [];
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly List<StreamDuplexConnection> _readers = [];
    private StreamDuplexConnection[] _snapshot = [];
    private ITimer? _timer;
    private Thread? _thread;
    private int _watching;
    private int _checking;
    private int _idle;
    private TimeSpan _paused;
    private TimeSpan _compiled;

    private ReaderWatchdog(TimeProvider time) => _time = time;

    /// <summary>Gets the watchdog whose timer runs on <paramref name="time"/>.</summary>
    public static ReaderWatchdog For(TimeProvider time) => s_watchdogs.GetValue(time, static t => new ReaderWatchdog(t));

    public void Add(StreamDuplexConnection connection)
    {
        lock (_gate)
        {
            _readers.Add(connection);
            _snapshot = [.. _readers];
        }
    }

    public void Remove(StreamDuplexConnection connection)
    {
        lock (_gate)
        {
            if (_readers.Remove(connection))
            {
                _snapshot = [.. _readers];
            }
        }
    }

    /// <summary>Called by a reader that has just marked work as running: starts the checks when they are stopped.</summary>
    public void Watch()
    {
        if (Volatile.Read(ref _watching) != 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_watching != 0)
            {
                return;
            }

            _watching = 1;
            _idle = 0;
            if (_time != TimeProvider.System)
            {
                _timer ??= _time.CreateTimer(static state => ((ReaderWatchdog)state!).Check(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _timer.Change(Threshold, Threshold);
            }
            else if (_thread is null)
            {
                _thread = new Thread(static state => ((ReaderWatchdog)state!).CheckLoop()) { IsBackground = true, Name = "Ipc reader watchdog" };
                _thread.UnsafeStart(this);
            }
            else
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    /// <summary>The system clock's checks: every <see cref="Threshold"/> while watching, asleep on the gate otherwise.</summary>
    private void CheckLoop()
    {
        while (true)
        {
            lock (_gate)
            {
                while (_watching == 0)
                {
                    Monitor.Wait(_gate);
                }

                Monitor.Wait(_gate, Threshold); // one period (a reader's pulse may end it early, which only checks sooner)
            }

            Check();
        }
    }

    private void Check()
    {
        if (Interlocked.Exchange(ref _checking, 1) != 0)
        {
            return; // the previous check is still running
        }

        try
        {
            // On real time, a collection that paused every thread for most of the period held the readers' work, not the work
            // itself (fake time in tests has no such periods).
            // Likewise the JIT compiler: the first calls of a path compile their methods on the thread that runs them, which
            // can hold a reader for tens of milliseconds once (a new thread would only compile the same methods again).
            var realTime = _time == TimeProvider.System;
            var paused = realTime ? GC.GetTotalPauseDuration() : TimeSpan.Zero;
            var compiled = realTime ? System.Runtime.JitInfo.GetCompilationTime() : TimeSpan.Zero;
            var collected = paused - _paused > Threshold / 2 || compiled - _compiled > Threshold / 2;
            _paused = paused;
            _compiled = compiled;
            var busy = false;
            foreach (var reader in Volatile.Read(ref _snapshot))
            {
                busy |= reader.CheckReaderWork(realTime, collected);
            }

            if (busy)
            {
                _idle = 0;
                return;
            }

            if (++_idle < IdleChecks)
            {
                return;
            }

            // Nothing ran for a while: stop ticking. A reader that marked work before it could see the flag cleared is
            // found by the check after clearing it; one that marks work later sees the flag cleared and starts us again.
            lock (_gate)
            {
                Volatile.Write(ref _watching, 0);
                Interlocked.MemoryBarrier();
                foreach (var reader in _snapshot)
                {
                    if (reader.IsRunningReaderWork)
                    {
                        _watching = 1;
                        _idle = 0;
                        return;
                    }
                }

                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan); // the system clock's thread waits on the gate
            }
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }
}
