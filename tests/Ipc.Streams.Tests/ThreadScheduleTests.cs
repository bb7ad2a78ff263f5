using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

public sealed class ThreadScheduleTests
{
    [Fact]
    public void CurrentThreadId_OnLinux_NamesAThreadOfThisProcessWithStatistics()
    {
        var id = ThreadSchedule.CurrentThreadId();

        Assert.Equal(OperatingSystem.IsLinux(), id != 0);
        Assert.Equal(File.Exists($"/proc/self/task/{id}/schedstat"), ThreadSchedule.RunQueueWaitNanoseconds(id) >= 0); // kernels without scheduler statistics have no such file
    }

    [Fact]
    public void RunQueueWaitNanoseconds_NoThreadId_ReturnsUnknown() =>
        Assert.Equal(-1, ThreadSchedule.RunQueueWaitNanoseconds(0));

    [Fact]
    public void Reader_ReadsAgainAndAgain_NeverGoesBackAndFollowsAnotherThreadUntilItEnds()
    {
        var here = ThreadSchedule.CurrentThreadId();
        var known = File.Exists($"/proc/self/task/{here}/schedstat"); // kernels without scheduler statistics have no such file
        using var reader = new ThreadSchedule.Reader();
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEvent(false); // a wait with no spin: the thread sleeps at once
        var other = 0;
        var thread = new Thread(() =>
        {
            other = ThreadSchedule.CurrentThreadId();
            started.Set();
            release.WaitOne(); // asleep, so its time waiting for a processor stands still
        });
        thread.Start();
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        Assert.True(SpinWait.SpinUntil(() => (thread.ThreadState & ThreadState.WaitSleepJoin) != 0, TimeSpan.FromSeconds(10)));

        var first = reader.Read(here);
        var second = reader.Read(here);
        var before = ThreadSchedule.RunQueueWaitNanoseconds(other);
        var theOther = reader.Read(other); // the file of the other thread, kept open
        var after = ThreadSchedule.RunQueueWaitNanoseconds(other);
        release.Set();
        thread.Join();
        var gone = reader.Read(other);
        var back = reader.Read(here);

        if (known)
        {
            Assert.InRange(first, 0, long.MaxValue);
            Assert.InRange(second, first, long.MaxValue); // the same file read again from its start, not from its end
            Assert.InRange(theOther, before, after); // that thread's, not this one's
            Assert.InRange(before, 0, long.MaxValue);
            Assert.True(gone == -1 || gone >= theOther, $"{gone}"); // an ended thread's last statistics, or none once it is gone
            Assert.InRange(back, second, long.MaxValue); // this thread's file opened again
        }
        else
        {
            Assert.Equal([-1L, -1L, -1L, -1L, -1L], [first, second, theOther, gone, back]);
        }
    }

    [Fact]
    public void Reader_Disposed_ReturnsUnknown()
    {
        var here = ThreadSchedule.CurrentThreadId();
        var reader = new ThreadSchedule.Reader();
        Assert.Equal(-1, reader.Read(0));

        reader.Dispose();

        Assert.Equal(-1, reader.Read(here));
    }
}
