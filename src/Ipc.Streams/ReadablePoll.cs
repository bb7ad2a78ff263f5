using System.Diagnostics;

namespace Ipc.Transports.Streams;

/// <summary>
/// Lets a dedicated reader wait for bytes by polling for a short while before it blocks in a read. A thread blocked in a
/// read is put to sleep and must be woken by the kernel when bytes arrive, which costs a context switch and, when its
/// processor went idle, an interrupt to wake that processor (tens of microseconds in a virtual machine). A reply that
/// comes within the spin is read at once instead. After a few polls the spin yields the processor between polls, so a
/// thread that has work runs, and at most one reader per processor spins at a time.
/// </summary>
/// <remarks>
/// The spin adapts: it stops as soon as it stops paying, and the reader then blocks at once for a while. A spin did not
/// pay when nothing arrived within it, or when the reader lost its processor in the middle of it (a yield that came back
/// late: another thread wanted the processor, so none was idle and spinning only takes time from the work it waits
/// for). After such a spin the reader does not spin for 1 ms, twice as long after each further spin that does not pay,
/// up to about a second; a spin that pays resets that.
/// </remarks>
internal sealed class ReadablePoll
{
    /// <summary>A gap between two polls longer than this means the spinning thread lost its processor.</summary>
    internal static readonly long PreemptedTicks = Stopwatch.Frequency / 50_000; // 20 us

    /// <summary>How long a reader does not spin after one spin that did not pay.</summary>
    internal static readonly long BackOffTicks = Stopwatch.Frequency / 1_000; // 1 ms

    /// <summary>The most the back-off doubles: 1 ms times 2^10, about a second.</summary>
    private const int MaxBackOffDoublings = 10;

    private static readonly int s_maxSpinning = Environment.ProcessorCount;
    private static int s_spinning;

    private readonly Func<bool> _isReadable;
    private readonly long _spinTicks;
    private readonly Func<long> _clock;
    private long _spinAgainAt;
    private int _misses;

    internal ReadablePoll(Func<bool> isReadable, TimeSpan spin, Func<long>? clock = null)
    {
        _isReadable = isReadable;
        _spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
        _clock = clock ?? Stopwatch.GetTimestamp;
    }

    /// <summary>Gets how many spins in a row did not pay (for tests).</summary>
    internal int Misses => _misses;

    /// <summary>Returns a poller when spinning can help: more than one processor, and a spin over zero.</summary>
    public static ReadablePoll? Create(Func<bool> isReadable, TimeSpan spin) =>
        spin <= TimeSpan.Zero || Environment.ProcessorCount < 2 ? null : new ReadablePoll(isReadable, spin);

    /// <summary>
    /// Polls until the stream has bytes to read (or was closed, or failed: the read that follows reports it), or the spin
    /// is over, or the spin stops paying. Returns at once while the reader backs off from spinning, and when as many
    /// readers as there are processors spin already. Called by the reader thread only.
    /// </summary>
    public void SpinUntilReadable()
    {
        var start = _clock();
        if (start < _spinAgainAt)
        {
            return; // backing off: spins have not paid lately
        }

        if (Interlocked.Increment(ref s_spinning) > s_maxSpinning)
        {
            Interlocked.Decrement(ref s_spinning);
            return;
        }

        try
        {
            var last = start;
            var spinner = default(SpinWait);
            while (true)
            {
                var readable = _isReadable();
                var now = _clock();
                if (now - last > PreemptedTicks)
                {
                    BackOff(now); // another thread wanted this processor (bytes that came meanwhile waited for this one)
                    return;
                }

                if (readable)
                {
                    _misses = 0;
                    return;
                }

                if (now - start >= _spinTicks)
                {
                    BackOff(now); // nothing came in time
                    return;
                }

                last = now;
                spinner.SpinOnce(sleep1Threshold: -1); // spins, then yields the processor; never sleeps
            }
        }
        finally
        {
            Interlocked.Decrement(ref s_spinning);
        }
    }

    private void BackOff(long now)
    {
        var doublings = Math.Min(_misses, MaxBackOffDoublings);
        _misses++;
        _spinAgainAt = now + (BackOffTicks << doublings);
    }
}
