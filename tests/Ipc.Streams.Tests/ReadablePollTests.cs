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
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) >= 3, TimeSpan.FromHours(1));

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);

        Assert.Equal(3, checks);
    }

    [Fact]
    public async Task SpinUntilReadable_ReadableAtOnce_ChecksOnce()
    {
        var checks = 0;
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) > 0, TimeSpan.FromHours(1));

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);

        Assert.Equal(1, checks);
    }

    [Fact]
    public async Task SpinUntilReadable_NeverReadable_ReturnsAfterTheSpin()
    {
        var checks = 0;
        var poll = new ReadablePoll(() => Interlocked.Increment(ref checks) < 0, TimeSpan.FromMilliseconds(20));

        await Task.Run(poll.SpinUntilReadable).WaitAsync(TestIpc.Bound);

        Assert.True(checks > 0);
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
                TimeSpan.FromHours(1));
            var thread = new Thread(poll.SpinUntilReadable) { IsBackground = true };
            thread.Start();
            return thread;
        }).ToList();
        try
        {
            Assert.True(spinning.Wait(TestIpc.Bound), "the spinners did not start");
            var checks = 0;
            var extra = new ReadablePoll(() => Interlocked.Increment(ref checks) > 0, TimeSpan.FromHours(1));

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
}
