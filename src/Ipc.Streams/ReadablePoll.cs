using System.Diagnostics;

namespace Ipc.Transports.Streams;

/// <summary>
/// Lets a dedicated reader wait for bytes by polling for a short while before it blocks in a read. A thread blocked in a
/// read is put to sleep and must be woken by the kernel when bytes arrive, which costs a context switch and, when its
/// processor went idle, an interrupt to wake that processor (tens of microseconds in a virtual machine). A reply that
/// comes within the spin is read at once instead. After a few polls the spin yields the processor between polls, so a
/// thread that has work runs, and at most one reader per processor spins at a time.
/// </summary>
internal sealed class ReadablePoll
{
    private static readonly int s_maxSpinning = Environment.ProcessorCount;
    private static int s_spinning;

    private readonly Func<bool> _isReadable;
    private readonly long _spinTicks;

    internal ReadablePoll(Func<bool> isReadable, TimeSpan spin)
    {
        _isReadable = isReadable;
        _spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Returns a poller when spinning can help: more than one processor, and a spin over zero.</summary>
    public static ReadablePoll? Create(Func<bool> isReadable, TimeSpan spin) =>
        spin <= TimeSpan.Zero || Environment.ProcessorCount < 2 ? null : new ReadablePoll(isReadable, spin);

    /// <summary>
    /// Polls until the stream has bytes to read (or was closed, or failed: the read that follows reports it), or the spin
    /// is over. Returns at once when as many readers as there are processors spin already.
    /// </summary>
    public void SpinUntilReadable()
    {
        if (Interlocked.Increment(ref s_spinning) > s_maxSpinning)
        {
            Interlocked.Decrement(ref s_spinning);
            return;
        }

        try
        {
            var start = Stopwatch.GetTimestamp();
            var spinner = default(SpinWait);
            while (!_isReadable() && Stopwatch.GetTimestamp() - start < _spinTicks)
            {
                spinner.SpinOnce(sleep1Threshold: -1); // spins, then yields the processor; never sleeps
            }
        }
        finally
        {
            Interlocked.Decrement(ref s_spinning);
        }
    }
}
