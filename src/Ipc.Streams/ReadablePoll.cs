using System.Diagnostics;
using System.IO.Pipes;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Ipc.Transports.Streams;

/// <summary>
/// Lets a dedicated reader wait for bytes by polling for a short while before it blocks in a read. A thread blocked in a
/// read is put to sleep and must be woken by the kernel when bytes arrive, which costs a context switch and, when its
/// processor went idle, an interrupt to wake that processor (tens of microseconds in a virtual machine). A reply that
/// comes within the spin is read at once instead. After a few polls the spin yields the processor between polls, so a
/// thread that has work runs, and at most one reader per processor spins at a time.
/// </summary>
internal sealed partial class ReadablePoll
{
    private const int PollIn = 0x0001;

    private static readonly int s_maxSpinning = Environment.ProcessorCount;
    private static int s_spinning;
    private static volatile bool s_pipePollMissing;

    private readonly Socket? _socket;
    private readonly SafeHandle? _pipe;
    private readonly long _spinTicks;

    private ReadablePoll(Socket? socket, SafeHandle? pipe, TimeSpan spin)
    {
        _socket = socket;
        _pipe = pipe;
        _spinTicks = (long)(spin.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>
    /// Returns a poller for <paramref name="stream"/> when it can be polled (a socket; a named pipe outside Windows, which
    /// .NET implements with a Unix domain socket) and spinning can help (more than one processor, a spin over zero).
    /// </summary>
    public static ReadablePoll? Create(Stream stream, TimeSpan spin)
    {
        if (spin <= TimeSpan.Zero || Environment.ProcessorCount < 2)
        {
            return null;
        }

        return stream switch
        {
            NetworkStream network => new ReadablePoll(network.Socket, null, spin),
            PipeStream pipe when !OperatingSystem.IsWindows() && !s_pipePollMissing => new ReadablePoll(null, pipe.SafePipeHandle, spin),
            _ => null,
        };
    }

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
            while (!IsReadable() && Stopwatch.GetTimestamp() - start < _spinTicks)
            {
                spinner.SpinOnce(sleep1Threshold: -1); // spins, then yields the processor; never sleeps
            }
        }
        finally
        {
            Interlocked.Decrement(ref s_spinning);
        }
    }

    private bool IsReadable()
    {
        try
        {
            return _socket is not null ? _socket.Poll(0, SelectMode.SelectRead) : s_pipePollMissing || IsPipeReadable(_pipe!);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException or IOException)
        {
            return true; // closed or failed: the read reports it
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            s_pipePollMissing = true; // no poll(2) in this C library: pipes block at once from now on
            return true;
        }
    }

    /// <summary>poll(2) with a zero timeout on the pipe's descriptor, held open meanwhile so it cannot be reused.</summary>
    private static bool IsPipeReadable(SafeHandle pipe)
    {
        var added = false;
        try
        {
            pipe.DangerousAddRef(ref added); // throws ObjectDisposedException once the stream was disposed
            var descriptor = new PollDescriptor { Descriptor = (int)pipe.DangerousGetHandle(), Events = PollIn };
            return NativeMethods.poll(ref descriptor, 1, 0) != 0; // ready, or an error the read reports
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
