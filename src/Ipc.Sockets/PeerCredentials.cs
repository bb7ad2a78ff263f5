using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Ipc.Sockets;

/// <summary>Reads the user id of a Unix socket's peer (SO_PEERCRED) and of this process.</summary>
[SupportedOSPlatform("linux")]
internal static partial class PeerCredentials
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>Returns the peer's user id from <c>struct ucred { pid_t pid; uid_t uid; gid_t gid; }</c>.</summary>
    public static uint GetPeerUserId(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length < 8)
        {
            throw new InvalidOperationException($"SO_PEERCRED returned {length} bytes instead of 12.");
        }

        return MemoryMarshal.Read<uint>(ucred[4..]); // native byte order
    }

    public static uint GetCurrentUserId() => NativeMethods.geteuid();

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = false)]
        internal static partial uint geteuid();
    }
}
