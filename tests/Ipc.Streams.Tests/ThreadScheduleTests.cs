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
}
