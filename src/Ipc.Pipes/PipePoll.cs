using System.IO.Pipes;
using System.Runtime.InteropServices;

namespace Ipc.Pipes;

/// <summary>
/// Tells whether a named pipe has bytes to read, without blocking: poll(2) on its descriptor (outside Windows .NET
/// implements named pipes with Unix domain sockets). Lets the dedicated reader spin before it blocks.
/// </summary>
internal static partial class PipePoll
{
    private const int PollIn = 0x0001;

    private static volatile bool s_missing;

    /// <summary>Returns the check for <paramref name="pipe"/>, or <see langword="null"/> where it cannot be polled (Windows).</summary>
    public static Func<bool>? For(PipeStream pipe) =>
        OperatingSystem.IsWindows() || s_missing ? null : () => IsReadable(pipe.SafePipeHandle);

    private static bool IsReadable(SafeHandle pipe)
    {
        if (s_missing)
        {
            return true;
        }

        var added = false;
        try
        {
            pipe.DangerousAddRef(ref added); // throws ObjectDisposedException once the stream was disposed; held so the descriptor is not reused
            var descriptor = new PollDescriptor { Descriptor = (int)pipe.DangerousGetHandle(), Events = PollIn };
            return NativeMethods.poll(ref descriptor, 1, 0) != 0; // ready, or an error the read reports
        }
        catch (ObjectDisposedException)
        {
            return true; // closed: the read reports it
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            s_missing = true; // no poll(2) in this C library: pipes block at once from now on
            return true;
        }
        finally
        {
            if (added)
            {
                pipe.DangerousRelease();
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = false)]
        internal static partial int poll(ref PollDescriptor descriptors, nuint count, int timeout);
    }
}
