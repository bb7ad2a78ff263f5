using System.IO.Pipes;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Ipc.Transports.Streams;

/// <summary>
/// Reads a connected socket without waiting, with recv(2) and MSG_DONTWAIT, for a dedicated reader's spin: bytes that
/// arrive during the spin are read by the same system call that finds them, where a poll would take one call to find
/// them and a read another. Covers <see cref="NetworkStream"/> (Unix domain sockets, TCP) and, outside Windows,
/// <see cref="PipeStream"/> (.NET implements named pipes with Unix domain sockets there). The socket stays in blocking
/// mode: the flag applies to the one call.
/// </summary>
internal static partial class UnixReceive
{
    private static readonly int s_dontWait = OperatingSystem.IsLinux() ? 0x40 : 0x80; // MSG_DONTWAIT: Linux; macOS and the BSDs
    private static readonly int s_wouldBlock = OperatingSystem.IsLinux() ? 11 : 35; // EAGAIN (= EWOULDBLOCK)
    private const int Interrupted = 4; // EINTR

    private static volatile bool s_missing;

    /// <summary>Returns the read for <paramref name="stream"/>, or <see langword="null"/> where there is none (Windows, another kind of stream).</summary>
    public static ReadAvailable? For(Stream stream)
    {
        if (s_missing || !(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
        {
            return null;
        }

        SafeHandle? handle = stream switch
        {
            NetworkStream network => network.Socket.SafeHandle,
            PipeStream pipe => pipe.SafePipeHandle,
            _ => null,
        };
        return handle is null ? null : buffer => Read(handle, buffer);
    }

    private static int Read(SafeHandle socket, Span<byte> buffer)
    {
        if (s_missing || buffer.IsEmpty)
        {
            return ReadablePoll.ReadNow; // the blocking read takes over (a read into no room would look like the end of the stream)
        }

        var added = false;
        try
        {
            socket.DangerousAddRef(ref added); // throws once the stream was disposed; held so the descriptor is not reused
            var read = NativeMethods.recv(socket.DangerousGetHandle(), ref MemoryMarshal.GetReference(buffer), (nuint)buffer.Length, s_dontWait);
            if (read >= 0)
            {
                return (int)read;
            }

            var error = Marshal.GetLastPInvokeError();
            return error == s_wouldBlock || error == Interrupted ? ReadablePoll.NothingYet : ReadablePoll.ReadNow; // a failure: the blocking read reports it
        }
        catch (ObjectDisposedException)
        {
            return ReadablePoll.ReadNow; // closed: the read reports it
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            s_missing = true; // no recv(2) in this C library: readers poll again
            return ReadablePoll.ReadNow;
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }
    }

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial nint recv(nint socket, ref byte buffer, nuint length, int flags);
    }
}
