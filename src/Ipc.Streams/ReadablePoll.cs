using System.Diagnostics;

namespace Ipc.Transports.Streams;

/// <summary>
/// Reads what has arrived without waiting: the count of bytes read into <paramref name="buffer"/> (0 at the end of the
/// stream), <see cref="ReadablePoll.NothingYet"/>, or <see cref="ReadablePoll.ReadNow"/> when a blocking read would
/// return at once (bytes arrived but were not read, or the stream closed or failed: that read reports it).
/// </summary>
internal delegate int ReadAvailable(Span<byte> buffer);

/// <summary>
/// Lets a dedicated reader wait for bytes by polling for a short while before it blocks in a read (where it can, with
/// reads that do not wait, so the poll that finds bytes also reads them). A thread blocked in a read is put to sleep
/// and must be woken by the kernel when bytes arrive, which costs a context switch and, when its processor went idle,
/// an interrupt to wake that processor (tens of microseconds in a virtual machine). A reply that comes within the spin
/// is read at once instead. For its first <see cref="BusyPollTicks"/> the spin polls back to back, then it yields the
/// processor between polls, so a thread that has work runs; at most one reader per processor spins at a time.
/// </summary>
/// <remarks>
/// The spin adapts: it stops as soon as it stops paying, and the reader then blocks at once for a while. A spin did not
/// pay when nothing arrived within it, or when the reader lost its processor in the middle of it (a yield that came back
/// over <see cref="PreemptedTicks"/> late: another thread wanted the processor, so none was idle and spinning only takes
/// time from the work it waits for). After such a spin the reader does not spin for 1 ms, twice as long after each
/// further spin that does not pay, up to about a second; a spin that pays resets that. One exception: a single spin
/// that nothing arrived within, after spins that paid, is a peer held up for a moment (a garbage collection, a time
/// slice of its own), not a peer gone quiet, so the reader blocks for that read only and spins again on the next; a
/// second such spin in a row backs off. Backing off after every such hiccup (40 to 150 times a second in each process
/// of a busy shared-memory pair on a two-processor machine) made the pair sleep and wake on every call for the
/// millisecond after.
/// </remarks>
internal sealed class ReadablePoll
{
    /// <summary>
    /// A gap between two polls longer than this means the spinning thread lost its processor to a thread that runs on
    /// (the scheduler gives such a thread a slice of milliseconds). Shorter gaps are interruptions that end by themselves
    /// (an interrupt, a timer, the reader watchdog's check: 5 to 50 us in a virtual machine), and spinning on after them
    /// still pays; backing off after each one made readers sleep, and be woken, on almost every call.
    /// </summary>
    internal static readonly long PreemptedTicks = Stopwatch.Frequency / 5_000; // 200 us

    /// <summary>
    /// How long a spin polls back to back before it yields the processor between polls. A reply usually comes within a
    /// few microseconds, from a peer on another processor, which a yield does not help; each yield is a system call,
    /// and a poll that follows one comes later. Polling back to back for the first 20 us halved the calls of a busy
    /// shared-memory pair that took over 10 us. A thread that wants the processor meanwhile waits 20 us at most.
    /// </summary>
    internal static readonly long BusyPollTicks = Stopwatch.Frequency / 50_000; // 20 us

    /// <summary>How long a reader does not spin after one spin that did not pay.</summary>
    internal static readonly long BackOffTicks = Stopwatch.Frequency / 1_000; // 1 ms

    /// <summary>The most the back-off doubles: 1 ms times 2^10, about a second.</summary>
    private const int MaxBackOffDoublings = 10;

    /// <summary>What a <see cref="ReadAvailable"/> returns when nothing has arrived yet.</summary>
    public const int NothingYet = INonBlockingStream.NothingYet;

    /// <summary>What a <see cref="ReadAvailable"/> returns when a blocking read would return at once.</summary>
    public const int ReadNow = INonBlockingStream.ReadNow;

    private static readonly int s_maxSpinning = Environment.ProcessorCount;
    private static int s_spinning;

    private readonly ReadAvailable _readAvailable;
    private readonly long _spinTicks;
    private readonly Func<long> _clock;
    private long _spinAgainAt;
    private int _misses;
    private int _backOffs;

    internal ReadablePoll(ReadAvailable readAvailable, TimeSpan spin, Func<long>? clock = null)
    {
        _readAvailable = readAvailable;
        _spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
        _clock = clock ?? Stopwatch.GetTimestamp;
    }

    internal ReadablePoll(Func<bool> isReadable, TimeSpan spin, Func<long>? clock = null)
        : this(Probe(isReadable), spin, clock)
    {
    }

    /// <summary>Gets how many spins in a row did not pay (for tests).</summary>
    internal int Misses => _misses;

    /// <summary>Gets how many times the reader backed off since the last spin that paid (for tests).</summary>
    internal int BackOffs => _backOffs;

    /// <summary>Returns a poller when spinning can help: more than one processor, and a spin over zero.</summary>
    public static ReadablePoll? Create(ReadAvailable readAvailable, TimeSpan spin) =>
        spin <= TimeSpan.Zero || Environment.ProcessorCount < 2 ? null : new ReadablePoll(readAvailable, spin);

    /// <summary>Returns a poller that asks <paramref name="isReadable"/> and leaves the read to the blocking call.</summary>
    public static ReadablePoll? Create(Func<bool> isReadable, TimeSpan spin) => Create(Probe(isReadable), spin);

    /// <summary>Spins until a blocking read would return at once (<see cref="SpinRead"/>, with a probe that only looks).</summary>
    public void SpinUntilReadable() => SpinRead(Span<byte>.Empty);

    /// <summary>
    /// Polls until bytes arrive (read into <paramref name="buffer"/> when the probe reads them), the stream closes or
    /// fails, the spin is over, or the spin stops paying. Returns the count of bytes read (0 at the end of the stream), or
    /// -1 when the caller reads with its blocking call: at once while the reader backs off from spinning, and when as
    /// many readers as there are processors spin already. Called by the reader thread only.
    /// </summary>
    public int SpinRead(Span<byte> buffer)
    {
        var start = _clock();
        if (start < _spinAgainAt)
        {
            return -1; // backing off: spins have not paid lately
        }

        if (Interlocked.Increment(ref s_spinning) > s_maxSpinning)
        {
            Interlocked.Decrement(ref s_spinning);
            return -1;
        }

        try
        {
            var last = start;
            var spinner = default(SpinWait);
            while (true)
            {
                var read = _readAvailable(buffer);
                var now = _clock();
                if (now - last > PreemptedTicks)
                {
                    _misses++;
                    BackOff(now); // another thread wanted this processor (bytes that came meanwhile waited for this one)
                    return Math.Max(read, -1);
                }

                if (read != NothingYet)
                {
                    _misses = 0;
                    _backOffs = 0;
                    return Math.Max(read, -1);
                }

                if (now - start >= _spinTicks)
                {
                    // Nothing came in time. Once after spins that paid, the peer was held up: block this time only.
                    if (_misses++ > 0)
                    {
                        BackOff(now);
                    }

                    return -1;
                }

                last = now;
                if (now - start < BusyPollTicks)
                {
                    Thread.SpinWait(1); // one pause between polls
                    continue;
                }

                spinner.SpinOnce(sleep1Threshold: -1); // spins, then yields the processor; never sleeps
            }
        }
        finally
        {
            Interlocked.Decrement(ref s_spinning);
        }
    }

    private static ReadAvailable Probe(Func<bool> isReadable) => _ => isReadable() ? ReadNow : NothingYet;

    /// <summary>Stops spinning for 1 ms, twice as long after each back-off since the last spin that paid.</summary>
    private void BackOff(long now)
    {
        var doublings = Math.Min(_backOffs, MaxBackOffDoublings);
        _backOffs++;
        _spinAgainAt = now + (BackOffTicks << doublings);
    }
}
