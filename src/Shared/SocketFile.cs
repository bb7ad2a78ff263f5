using System.Runtime.InteropServices;

namespace Ipc.Peers;

/// <summary>What is at the path of a Unix socket file, read without following a symbolic link.</summary>
internal enum SocketFileKind
{
    /// <summary>Nothing: the server may bind the path.</summary>
    None,

    /// <summary>A Unix domain socket file.</summary>
    Socket,

    /// <summary>A regular file, a directory, a symbolic link or anything else that is not a socket: never replaced.</summary>
    Other,
}

/// <summary>
/// Tells a socket file from anything else at a path, without opening it, for the servers that listen on a Unix socket
/// (Unix sockets, named pipes outside Windows, shared memory's handshake) and replace only a socket file nobody answers
/// on; compiled into each of them from one source file. .NET exposes no file type beyond "directory", so this reads the
/// mode with <c>statx</c> on Linux (whose layout is the same on every architecture) and <c>lstat</c> on macOS; on
/// Windows a socket file is a reparse point that is no link.
/// </summary>
internal static partial class SocketFile
{
    private const int TypeMask = 0xF000; // S_IFMT
    private const int SocketType = 0xC000; // S_IFSOCK
    private const int NoEntry = 2; // ENOENT, on Linux and macOS

    /// <summary>
    /// The refusal of a server whose socket path holds something that is not a socket (<see cref="SocketFileKind.Other"/>):
    /// only a socket file nobody answers on is replaced, so start fails and what is there stays.
    /// </summary>
    /// <param name="endpointName">The endpoint's name.</param>
    /// <param name="address">The address as its user knows it.</param>
    /// <param name="path">The socket file's path.</param>
    /// <param name="found">What is there, as <see cref="KindOf"/> describes it.</param>
    /// <param name="instead">What the user may choose instead: <c>path</c>, <c>name</c>, <c>pipe name</c>.</param>
    public static IpcException NotASocket(string endpointName, string address, string path, string found, string instead) =>
        new(
            IpcErrorCode.Unavailable,
            $"Endpoint '{endpointName}' cannot listen on {address}: {found} is at its socket file's path ({path}), and only a socket file that no server answers on is replaced. Remove it, or choose another {instead}.")
        {
            Endpoint = endpointName,
        };

    /// <summary>Returns what is at <paramref name="path"/>, and for anything but a socket what it is, for an error message.</summary>
    public static SocketFileKind KindOf(string path, out string description)
    {
        description = "a file that is not a socket";
        if (OperatingSystem.IsWindows())
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path))
            {
                description = "a directory";
                return SocketFileKind.Other;
            }

            if (!info.Exists)
            {
                return SocketFileKind.None;
            }

            if (info.LinkTarget is not null)
            {
                description = "a symbolic link";
                return SocketFileKind.Other;
            }

            if ((info.Attributes & FileAttributes.ReparsePoint) != 0)
            {
                return SocketFileKind.Socket;
            }

            description = "a regular file";
            return SocketFileKind.Other;
        }

        if (!TryReadMode(path, out var mode, out var error))
        {
            description = error == 0 ? "a file whose type cannot be read on this platform" : $"a path that cannot be inspected (errno {error})";
            var exists = error == 0
                ? File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null
                : error != NoEntry;
            return exists ? SocketFileKind.Other : SocketFileKind.None;
        }

        description = (mode & TypeMask) switch
        {
            SocketType => "a socket",
            0x8000 => "a regular file",
            0x4000 => "a directory",
            0xA000 => "a symbolic link",
            0x1000 => "a named pipe (FIFO)",
            0x2000 or 0x6000 => "a device",
            _ => description,
        };
        return (mode & TypeMask) == SocketType ? SocketFileKind.Socket : SocketFileKind.Other;
    }

    private static bool TryReadMode(string path, out int mode, out int error)
    {
        mode = 0;
        error = 0;
        Span<byte> buffer = stackalloc byte[256];
        int result;
        if (OperatingSystem.IsLinux())
        {
            // struct statx: stx_mode is the 16-bit field at offset 28.
            try
            {
                result = NativeMethods.statx(AtCurrentDirectory, path, AtSymlinkNoFollow, StatxType, ref MemoryMarshal.GetReference(buffer));
            }
            catch (EntryPointNotFoundException)
            {
                return false; // a C library older than statx (glibc 2.28, musl 1.2.5): nothing is replaced
            }

            if (result == 0)
            {
                mode = MemoryMarshal.Read<ushort>(buffer[28..]);
            }
        }
        else if (OperatingSystem.IsMacOS())
        {
            // struct stat with 64-bit inodes: st_dev (32 bits), then st_mode (16 bits) at offset 4.
            result = RuntimeInformation.ProcessArchitecture == Architecture.X64
                ? NativeMethods.lstat_inode64(path, ref MemoryMarshal.GetReference(buffer))
                : NativeMethods.lstat(path, ref MemoryMarshal.GetReference(buffer));
            if (result == 0)
            {
                mode = MemoryMarshal.Read<ushort>(buffer[4..]);
            }
        }
        else
        {
            // No known layout: report something that is not a socket, which is never replaced.
            return false;
        }

        if (result != 0)
        {
            error = Marshal.GetLastPInvokeError();
            return false;
        }

        return true;
    }

    private const int AtCurrentDirectory = -100; // AT_FDCWD
    private const int AtSymlinkNoFollow = 0x100; // AT_SYMLINK_NOFOLLOW
    private const uint StatxType = 0x1; // STATX_TYPE

    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int statx(int directory, string path, int flags, uint mask, ref byte buffer);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int lstat(string path, ref byte buffer);

        [LibraryImport("libc", EntryPoint = "lstat$INODE64", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int lstat_inode64(string path, ref byte buffer);
    }
}
