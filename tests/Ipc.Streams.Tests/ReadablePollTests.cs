using System.Diagnostics;
using Ipc.TestUtils;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

/// <remarks>
/// Spinners share one process-wide count, so this class and the other that spins (the dedicated readers of
/// <see cref="StreamDuplexConnectionTests"/>) run one after the other.
/// </remarks>
[Collection(Spinners)]
public sealed class ReadablePollTests
{
    public const string Spinners = "ReadablePoll spinners";

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Create_SpinZeroOrLess_ReturnsNoPoller(int microseconds)
    {
        var poll = ReadablePoll.Create(() => throw new InvalidOperationException("must not be called"), TimeSpan.FromMicroseconds(microseconds));

        Assert.Null(poll);
    }

    [Fact]
    public void Create_PositiveSpin_ReturnsPollerWhenThereIsMoreThanOneProcessor()
    {
        var poll = ReadablePoll.Create(() => true, TimeSpan.FromMicroseconds(50));

        Assert.Equal(Environment.ProcessorCount > 1, poll is not null);
    }

    [Fact]
    public async Task SpinUntilReadable_BecomesReadable_ReturnsAsSoonAsTheCheckSaysSo()
    {
        var checks = 0;
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) >= 3, TimeSpan.FromHours(1), Frozen);

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);

        Assert.Equal(3, checks);
    }

    [Fact]
    public async Task SpinUntilReadable_ReadableAtOnce_ChecksOnce()
    {
        var checks = 0;
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) > 0, TimeSpan.FromHours(1), Frozen);

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);

        Assert.Equal(1, checks);
    }

    [Fact]
    public async Task SpinUntilReadable_NeverReadable_ReturnsAfterTheSpin()
    {
        var checks = 0;
        var clock = new ManualClock(step: Microseconds(1));
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) < 0, TimeSpan.FromMicroseconds(20), clock.Read);

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);

        Assert.InRange(checks, 20, 22);
    }

    [Fact]
    public void SpinUntilReadable_ReaderLosesItsProcessor_StopsAtOnceAndBacksOff()
    {
        var checks = 0;
        var clock = new ManualClock(step: ReadablePoll.PreemptedTicks + 1); // every poll comes back late: the machine is busy
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) < 0, TimeSpan.FromHours(1), clock.Read);

        poll.SpinUntilReadable();
        var afterFirst = checks;
        poll.SpinUntilReadable(); // within the back-off: no spin at all

        Assert.Equal((1, 1, 1), (afterFirst, checks, poll.Misses));
    }

    [Fact]
    public async Task SpinUntilReadable_ShortInterruptions_KeepSpinningAndDoNotBackOff()
    {
        var checks = 0;
        var clock = new ManualClock(step: Microseconds(50)); // every poll comes back 50 us later: a timer or a watchdog's check ran meanwhile
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) % 3 == 0, TimeSpan.FromHours(1), clock.Read);

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);
        var afterFirst = checks;
        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound); // no back-off: spins again at once

        Assert.Equal((3, 6, 0), (afterFirst, checks, poll.Misses));
    }

    [Fact]
    public void SpinUntilReadable_BytesCameWhileTheReaderHadLostItsProcessor_CountsAsASpinThatDidNotPay()
    {
        var clock = new ManualClock(step: ReadablePoll.PreemptedTicks + 1);
        var poll = new ReadablePoll(() => true, TimeSpan.FromHours(1), clock.Read);

        poll.SpinUntilReadable();

        Assert.Equal(1, poll.Misses);
    }

    [Fact]
    public void SpinUntilReadable_OneSpinThatMisses_BlocksThatTimeOnlyAndSpinsAgainNextTime()
    {
        var readable = false;
        var checks = 0;
        var clock = new ManualClock(step: Microseconds(1));
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) > 0 && readable, TimeSpan.FromMicroseconds(10), clock.Read);
        poll.SpinUntilReadable(); // nothing comes: the peer was held up for a moment; no back-off
        var afterMiss = (poll.Misses, poll.BackOffs);

        readable = true;
        checks = 0;
        poll.SpinUntilReadable(); // at once, not a millisecond later

        Assert.Equal(((1, 0), 1, 0), (afterMiss, checks, poll.Misses));
    }

    [Fact]
    public void SpinUntilReadable_AfterTheBackOff_SpinsAgainAndAPaidSpinResetsIt()
    {
        var readable = false;
        var checks = 0;
        var clock = new ManualClock(step: Microseconds(1));
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) > 0 && readable, TimeSpan.FromMicroseconds(10), clock.Read);
        poll.SpinUntilReadable();
        poll.SpinUntilReadable(); // nothing comes twice in a row: backs off for 1 ms
        var missed = (poll.Misses, poll.BackOffs);

        clock.Now += ReadablePoll.BackOffTicks;
        readable = true;
        checks = 0;
        poll.SpinUntilReadable();

        Assert.Equal(((2, 1), 1, 0, 0), (missed, checks, poll.Misses, poll.BackOffs));
    }

    [Fact]
    public void SpinUntilReadable_SpinsThatKeepMissing_BackOffTwiceAsLongEachTime()
    {
        var checks = 0;
        var clock = new ManualClock(step: Microseconds(1));
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) < 0, TimeSpan.FromMicroseconds(10), clock.Read);
        poll.SpinUntilReadable(); // no back-off
        poll.SpinUntilReadable(); // 1 ms back-off
        clock.Now += ReadablePoll.BackOffTicks;
        poll.SpinUntilReadable(); // 2 ms back-off

        clock.Now += ReadablePoll.BackOffTicks; // 1 ms later: still backing off
        checks = 0;
        poll.SpinUntilReadable();
        var withinSecondBackOff = checks;
        clock.Now += ReadablePoll.BackOffTicks;
        poll.SpinUntilReadable();

        Assert.Equal((0, 4, 3), (withinSecondBackOff, poll.Misses, poll.BackOffs));
        Assert.True(checks > 0, "after the second back-off the reader spins again");
    }

    [Fact]
    public async Task SpinUntilReadable_AsManySpinningAsProcessors_ReturnsWithoutChecking()
    {
        using var release = new ManualResetEventSlim();
        using var spinning = new CountdownEvent(Environment.ProcessorCount);
        var spinners = Enumerable.Range(0, Environment.ProcessorCount).Select(_ =>
        {
            var entered = 0;
            var poll = new ReadablePoll(
                () =>
                {
                    if (Interlocked.Exchange(ref entered, 1) == 0)
                    {
                        spinning.Signal();
                    }

                    return release.Wait(TestIpc.Bound);
                },
                TimeSpan.FromHours(1), Frozen);
            var thread = new Thread(poll.SpinUntilReadable) { IsBackground = true };
            thread.Start();
            return thread;
        }).ToList();
        try
        {
            Assert.True(spinning.Wait(TestIpc.Bound), "the spinners did not start");
            var checks = 0;
            var extra = new ReadablePoll(() => Interlocked.Increment(ref checks) > 0, TimeSpan.FromHours(1), Frozen);

            await Task.Run(extra.SpinUntilReadable).WaitAsync(TestIpc.Bound);

            Assert.Equal(0, checks);
        }
        finally
        {
            release.Set();
            foreach (var thread in spinners)
            {
                Assert.True(thread.Join(TestIpc.Bound));
            }
        }
    }

    [Fact]
    public async Task SpinRead_ProbeReadsTheBytes_ReturnsTheirCountWithoutABlockingRead()
    {
        var checks = 0;
        var poll = new ReadablePoll(
            buffer =>
            {
                if (Interlocked.Increment(ref checks) < 3)
                {
                    return ReadablePoll.NothingYet;
                }

                buffer[0] = 42;
                return 1;
            },
            TimeSpan.FromHours(1),
            Frozen);
        var buffer = new byte[8];

        var read = await Task.Run(() => poll.SpinRead(buffer)).WaitAsync(TestIpc.Bound);

        Assert.Equal((1, (byte)42, 3, 0), (read, buffer[0], checks, poll.Misses));
    }

    [Theory]
    [InlineData(0)] // the end of the stream
    [InlineData(ReadablePoll.ReadNow)] // a failure or bytes not read: the blocking read takes over
    public void SpinRead_ProbeEndsTheSpin_ReturnsWhatTheReaderDoesNext(int probed)
    {
        var poll = new ReadablePoll(_ => probed, TimeSpan.FromHours(1), Frozen);

        Assert.Equal(Math.Max(probed, -1), poll.SpinRead(new byte[8]));
    }

    [Fact]
    public void SpinRead_NothingComes_ReturnsMinusOneSoTheReaderBlocks()
    {
        var clock = new ManualClock(step: Microseconds(1));
        var poll = new ReadablePoll(_ => ReadablePoll.NothingYet, TimeSpan.FromMicroseconds(20), clock.Read);

        Assert.Equal((-1, 1), (poll.SpinRead(new byte[8]), poll.Misses));
    }

    private static long Frozen() => 0; // no time passes: a spin ends only when the check says readable

    private static long Microseconds(int microseconds) => Stopwatch.Frequency * microseconds / 1_000_000;

    /// <summary>A clock that moves on by <c>step</c> at each reading, and by hand.</summary>
    private sealed class ManualClock(long step)
    {
        public long Now { get; set; } = Stopwatch.Frequency; // not zero: a reader that never backed off spins at once

        public long Read() => Now += step;
    }
}
