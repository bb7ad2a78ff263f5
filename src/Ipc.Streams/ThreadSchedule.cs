using System.Globalization;

namespace Ipc.Transports.Streams;

/// <summary>
/// How long a thread has waited for a processor, from Linux's per-thread scheduler statistics: tells a dedicated reader
/// that is held by its work from one that a busy machine does not run.
/// </summary>
internal static class ThreadSchedule
{
    /// <summary>Returns the operating system's id of the calling thread on Linux; 0 where it is not known.</summary>
    public static int CurrentThreadId()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        try
        {
            // "/proc/thread-self" links to "<pid>/task/<tid>".
            var target = new FileInfo("/proc/thread-self").LinkTarget;
            return target is not null && int.TryParse(Path.GetFileName(target), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Returns the nanoseconds thread <paramref name="threadId"/> of this process has spent runnable but waiting for a processor, or -1 when not known.</summary>
    public static long RunQueueWaitNanoseconds(int threadId)
    {
        if (threadId == 0)
        {
            return -1;
        }

        try
        {
            // "<on processor ns> <waiting on a run queue ns> <time slices>"
            Span<byte> text = stackalloc byte[96];
            using var file = File.OpenHandle($"/proc/self/task/{threadId}/schedstat");
            var line = text[..RandomAccess.Read(file, text, 0)];
            var first = line.IndexOf((byte)' ');
            if (first < 0)
            {
                return -1;
            }

            line = line[(first + 1)..];
            var second = line.IndexOf((byte)' ');
            return System.Buffers.Text.Utf8Parser.TryParse(second < 0 ? line : line[..second], out long waited, out _) ? waited : -1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return -1; // the thread ended, or the kernel keeps no statistics
        }
    }
}
