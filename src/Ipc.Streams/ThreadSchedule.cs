using System.Globalization;
using Microsoft.Win32.SafeHandles;

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
            using var file = Open(threadId);
            return Read(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return -1; // the thread ended, or the kernel keeps no statistics
        }
    }

    private static SafeFileHandle Open(int threadId) => File.OpenHandle($"/proc/self/task/{threadId}/schedstat");

    /// <summary>Reads the statistics from the start of the file: the kernel writes them anew for each read.</summary>
    private static long Read(SafeFileHandle file)
    {
        // "<on processor ns> <waiting on a run queue ns> <time slices>"
        Span<byte> text = stackalloc byte[96];
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

    /// <summary>
    /// Reads one thread's time waiting for a processor again and again, from the statistics file it keeps open. The reader
    /// watchdog reads it at every check that finds a reader at work, on a processor it takes from a reader: reading the open
    /// file is one system call (about 1 us on a two-processor virtual machine), where opening, reading and closing it took
    /// 7 to 12 us.
    /// </summary>
    /// <remarks>Reads and <see cref="Dispose"/> may come from different threads; after it, reads return -1.</remarks>
    internal sealed class Reader : IDisposable
    {
        private readonly object _gate = new();
        private SafeFileHandle? _file;
        private int _threadId;
        private bool _disposed;

        /// <summary>Returns what <see cref="RunQueueWaitNanoseconds"/> does, opening the file again when the thread changed.</summary>
        public long Read(int threadId)
        {
            lock (_gate)
            {
                if (_disposed || threadId == 0)
                {
                    return -1;
                }

                try
                {
                    if (threadId != _threadId || _file is null)
                    {
                        _file?.Dispose();
                        _file = null;
                        _threadId = threadId;
                        _file = Open(threadId);
                    }

                    return ThreadSchedule.Read(_file);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    _file?.Dispose(); // the thread ended, or the kernel keeps no statistics: tried again on the next read
                    _file = null;
                    return -1;
                }
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                _file?.Dispose();
                _file = null;
            }
        }
    }
}
