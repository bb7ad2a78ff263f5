using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Ipc.SharedMemory;

/// <summary>
/// What the transport asks of the operating system beyond .NET: futex waits and wakes on a word in the shared mapping
/// (Linux), the user id of a Unix socket's peer (SO_PEERCRED, Linux), whether a process still runs, and advisory file
/// locks (<c>flock</c>, Unix).
/// </summary>
internal static unsafe partial class NativeMethods
{
    private const int FutexWait = 0; // FUTEX_WAIT, without FUTEX_PRIVATE_FLAG: the word is shared between processes
    private const int FutexWake = 1; // FUTEX_WAKE
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private const int NoSuchProcess = 3; // ESRCH
    private const int LockShared = 1; // LOCK_SH
    private const int LockExclusive = 2; // LOCK_EX
    private const int LockNonBlocking = 4; // LOCK_NB

    // 64-bit Linux only: the timeout below is a 64-bit struct timespec.
    private static readonly long s_futexCall = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => -1,
    };

    /// <summary>Gets a value indicating whether futexes can be used here (Linux on a known architecture).</summary>
    public static bool HasFutex { get; } = OperatingSystem.IsLinux() && s_futexCall > 0;

    /// <summary>Sleeps while <c>*word == expected</c>, for at most <paramref name="timeout"/>; returns at once otherwise. Without futexes, sleeps 1 ms.</summary>
    public static void Wait(int* word, int expected, TimeSpan timeout)
    {
        if (!HasFutex)
        {
#pragma warning disable RS0030 // the waiting side's own thread sleeps, as it does in the futex elsewhere
            Thread.Sleep(1);
#pragma warning restore RS0030
            return;
        }

        var ticks = timeout.Ticks;
        var spec = stackalloc long[2];
        spec[0] = ticks / TimeSpan.TicksPerSecond;
        spec[1] = ticks % TimeSpan.TicksPerSecond * 100;
        _ = syscall(s_futexCall, word, FutexWait, expected, spec, null, 0);
    }

    /// <summary>Wakes every thread (of any process) sleeping on <paramref name="word"/>.</summary>
    public static void Wake(int* word)
    {
        if (HasFutex)
        {
            _ = syscall(s_futexCall, word, FutexWake, int.MaxValue, null, null, 0);
        }
    }

    /// <summary>Returns the user id of the peer of a connected Unix socket, from <c>struct ucred { pid_t pid; uid_t uid; gid_t gid; }</c>.</summary>
    public static uint GetPeerUserId(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length < 8)
        {
            throw new InvalidOperationException($"SO_PEERCRED returned {length} bytes instead of 12.");
        }

        return MemoryMarshal.Read<uint>(ucred[4..]);
    }

    /// <summary>Gets the effective user id of this process.</summary>
    public static uint GetCurrentUserId() => geteuid();

    /// <summary>Returns whether a process with id <paramref name="pid"/> runs (of any user).</summary>
    public static bool ProcessExists(int pid)
    {
        if (OperatingSystem.IsWindows())
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                return !process.HasExited;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }

        return kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != NoSuchProcess;
    }

    /// <summary>
    /// Takes an advisory lock (<c>flock</c>) on the open file <paramref name="file"/> without waiting: shared, or
    /// <paramref name="exclusive"/>. The lock belongs to the open file, not to a process id: it holds until every
    /// descriptor of that open file is closed, which the kernel does when its process dies, in whatever PID namespace.
    /// </summary>
    /// <returns><see cref="FileLock.Taken"/>; <see cref="FileLock.Held"/> when another open file holds a lock that conflicts;
    /// <see cref="FileLock.Unavailable"/> where there are no such locks (Windows, a file system without them).</returns>
    public static FileLock TryLock(SafeFileHandle file, bool exclusive)
    {
        if (OperatingSystem.IsWindows())
        {
            return FileLock.Unavailable;
        }

        if (flock(file, (exclusive ? LockExclusive : LockShared) | LockNonBlocking) == 0)
        {
            return FileLock.Taken;
        }

        // EWOULDBLOCK: 11 on Linux, 35 on macOS and the BSDs.
        return Marshal.GetLastPInvokeError() == (OperatingSystem.IsLinux() ? 11 : 35) ? FileLock.Held : FileLock.Unavailable;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(SafeFileHandle file, int operation);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int* word, int operation, int value, long* timeout, int* word2, int value3);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}

/// <summary>What <see cref="NativeMethods.TryLock"/> found.</summary>
internal enum FileLock
{
    /// <summary>The lock is this open file's now.</summary>
    Taken,

    /// <summary>Another open file (of any process) holds a lock that conflicts.</summary>
    Held,

    /// <summary>No advisory locks here: Windows, or a file system without them.</summary>
    Unavailable,
}
