using System.Globalization;
using System.Runtime.InteropServices;

namespace Ipc.Peers;

/// <summary>
/// Names the peer of a connected Unix domain socket by its credentials (SO_PEERCRED on Linux): <c>pid=4242 uid=1000</c>.
/// Shared by the transports that accept Unix sockets (Unix sockets, named pipes outside Windows, shared memory's
/// handshake); compiled into each of them from one source file. One system call per connection.
/// </summary>
internal static partial class UnixPeer
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>
    /// Returns <c>pid=… uid=…</c> of the process at the other end of the Unix socket <paramref name="socket"/> (a
    /// <c>Socket.SafeHandle</c>, or a named pipe's handle, which is a Unix socket outside Windows), or
    /// <see langword="null"/> where the platform does not tell (not Linux) or the socket is gone.
    /// </summary>
    public static string? Describe(SafeHandle socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var added = false;
        try
        {
            socket.DangerousAddRef(ref added); // held, so the descriptor is not closed and reused meanwhile
            Span<int> ucred = stackalloc int[3]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            var length = (uint)(ucred.Length * sizeof(int));
            if (NativeMethods.getsockopt((int)socket.DangerousGetHandle(), SolSocket, SoPeerCred, ref MemoryMarshal.GetReference(ucred), ref length) != 0 || length < 8)
            {
                return null;
            }

            return Format(ucred[0], (uint)ucred[1]);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }
    }

    /// <summary>Formats a peer's process and user ids as the transports report them.</summary>
    public static string Format(int pid, uint uid) => string.Create(CultureInfo.InvariantCulture, $"pid={pid} uid={uid}");

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = false)]
        internal static partial int getsockopt(int socket, int level, int name, ref int value, ref uint length);
    }
}
