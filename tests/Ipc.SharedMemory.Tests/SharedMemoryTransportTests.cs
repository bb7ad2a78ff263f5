using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.SharedMemory.Tests;

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryTransportTests
{
    [Theory]
    [InlineData("shm://calc")]
    [InlineData("shm://orders.v2_blue-1")]
    public void ValidateAddress_ValidName_ReturnsNull(string address) =>
        Assert.Null(new SharedMemoryTransport().ValidateAddress(new Uri(address)));

    [Theory]
    [InlineData("shm://calc/other", "a path, port, query or user")]
    [InlineData("shm://calc:5000", "a path, port, query or user")]
    [InlineData("shm://calc?x=1", "a path, port, query or user")]
    [InlineData("shm://..", "is not '.' or '..'")]
    [InlineData("shm:///dev/shm/x", "name the server after shm://")]
    [InlineData("shm://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "may have up to 64 letters")]
    public void ValidateAddress_BadName_SaysWhatToFix(string address, string expected)
    {
        var problem = new SharedMemoryTransport().ValidateAddress(new Uri(address));

        Assert.NotNull(problem);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_StaleSegments_RemovesOnlyFilesThisTransportMadeForDeadProcesses()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            const int deadPid = 2_000_000_000; // past any pid_max
            var name = "stale";
            var stale = WriteSegmentFile(folder, $"ipc-shm-{name}-{deadPid}-1", SharedMemorySegment.Header(name, deadPid, 65536));
            var noHeader = WriteSegmentFile(folder, $"ipc-shm-{name}-{deadPid}-2", new byte[SharedMemorySegment.HeaderSize]);
            var otherServer = WriteSegmentFile(folder, $"ipc-shm-{name}-{deadPid}-3", SharedMemorySegment.Header("other", deadPid, 65536));
            var running = WriteSegmentFile(folder, $"ipc-shm-{name}-1-4", SharedMemorySegment.Header(name, 1, 65536)); // process 1 always runs
            var thisProcess = WriteSegmentFile(folder, $"ipc-shm-{name}-{Environment.ProcessId}-7", SharedMemorySegment.Header(name, Environment.ProcessId, 65536, SharedMemorySegment.ProcessToken));
            var otherPattern = WriteSegmentFile(folder, $"ipc-shm-{name}-x-5", SharedMemorySegment.Header(name, deadPid, 65536));
            var foreign = WriteSegmentFile(folder, $"my-{name}-{deadPid}-6", SharedMemorySegment.Header(name, deadPid, 65536));

            using var server = await TestIpc.StartServerAsync($"shm://{name}", ipc => ipc.AddSharedMemory(o => o.Directory = folder));

            Assert.False(File.Exists(stale));
            Assert.All([noHeader, otherServer, running, thisProcess, otherPattern, foreign], path => Assert.True(File.Exists(path), $"{path} was removed"));
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// A crashed server's process id may belong to another live process by the next start: a segment whose header names a
    /// live process with another start time than the creator's is removed; one whose start time is the live process's
    /// own (the creator still runs), or unknown (0, as in files of earlier versions), stays. These headers do not say their
    /// creator locks the file (as where there are no locks), so the process id decides.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/<pid>/stat
    public async Task StartAsync_SegmentNamingAProcessIdReusedByAnotherProcess_IsRemovedAndTheCreatorsIsKept()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        using var live = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
        try
        {
            const string Name = "reused";
            var pid = live.Id;
            var startTime = StartTimeFromProc(pid);
            var reused = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, pid, 1), SharedMemorySegment.Header(Name, pid, 65536, token: 1, startTime: startTime - 1));
            var creator = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, pid, 2), SharedMemorySegment.Header(Name, pid, 65536, token: 1, startTime: startTime));
            var unknown = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, pid, 3), SharedMemorySegment.Header(Name, pid, 65536, token: 1, startTime: 0));
            var otherServer = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, pid, 4), SharedMemorySegment.Header("other", pid, 65536, token: 1, startTime: startTime - 1));

            using var server = await TestIpc.StartServerAsync($"shm://{Name}", ipc => ipc.AddSharedMemory(o => o.Directory = folder));

            Assert.False(File.Exists(reused), "the segment of a dead creator whose id another process has now is still there");
            Assert.All([creator, unknown, otherServer], path => Assert.True(File.Exists(path), $"{path} was removed"));
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
        finally
        {
            live.Kill();
            await live.WaitForExitAsync().WaitAsync(TestIpc.Bound);
            Directory.Delete(folder, recursive: true);
        }

        // Field 22 of /proc/<pid>/stat, counted after the command name in parentheses (field 2).
        static ulong StartTimeFromProc(int pid)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return ulong.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[22 - 3], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// A segment file another live process holds a lock on stays, though its name and header give a process id that runs
    /// nowhere here: its creator, or a client that still maps it, may run in another PID namespace sharing the folder. So
    /// does a file of an earlier version (whose header does not say its creator locks it). Once that process has ended, the
    /// next server removes both.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // flock
    public async Task StartAsync_SegmentAnotherLiveProcessHoldsALockOn_StaysWhateverProcessIdItNamesUntilThatProcessEnds()
    {
        const string Name = "locked";
        const int DeadPid = 2_000_000_000; // past any pid_max
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        var holders = new List<TestServerProcess>();
        try
        {
            var locking = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, DeadPid, 1), SharedMemorySegment.Header(Name, DeadPid, 65536, token: 1, creatorLocks: true));
            var earlier = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, DeadPid, 2), SharedMemorySegment.Header(Name, DeadPid, 65536));
            foreach (var path in new[] { locking, earlier })
            {
                holders.Add(await TestServerProcess.StartAsync(["hold-lock", path], TestIpc.Bound));
                Assert.True(TryLockExclusive(path) == FileLock.Held, "the other process holds no lock on the file (DOTNET_SYSTEM_IO_DISABLEFILELOCKING=1?)");
            }

            using (var server = await TestIpc.StartServerAsync($"shm://{Name}", ipc => ipc.AddSharedMemory(o => o.Directory = folder)))
            {
                Assert.True(File.Exists(locking), "a segment a live process holds a lock on was removed");
                Assert.True(File.Exists(earlier), "a segment of an earlier version a live process holds a lock on was removed");
                await server.StopAsync().WaitAsync(TestIpc.Bound);
            }

            foreach (var holder in holders)
            {
                await holder.DisposeAsync(); // returns once the process has exited, and the kernel has let its lock go
            }

            holders.Clear();
            using (var restarted = await TestIpc.StartServerAsync($"shm://{Name}", ipc => ipc.AddSharedMemory(o => o.Directory = folder)))
            {
                Assert.False(File.Exists(locking), "the segment is still there after the process that held it ended");
                Assert.False(File.Exists(earlier), "the segment of an earlier version is still there after the process that held it ended");
                await restarted.StopAsync().WaitAsync(TestIpc.Bound);
            }
        }
        finally
        {
            foreach (var holder in holders)
            {
                await holder.DisposeAsync();
            }

            Directory.Delete(folder, recursive: true);
        }

        static FileLock TryLockExclusive(string path)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return NativeMethods.TryLock(file.SafeFileHandle, exclusive: true);
        }
    }

    /// <summary>
    /// A segment whose header says its creator holds a lock on it for as long as it runs, and that nobody holds a lock on,
    /// was left by a dead creator: it is removed even when the process id it names runs here (another process in this
    /// PID namespace, or this very process with its own token), as it may come from another namespace.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // flock
    public async Task StartAsync_SegmentItsCreatorLockedThatNobodyHoldsALockOn_IsRemovedWhateverProcessIdItNames()
    {
        const string Name = "unlocked";
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            var runningProcess = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, 1, 1), SharedMemorySegment.Header(Name, 1, 65536, token: 1, creatorLocks: true)); // process 1 always runs
            var thisProcess = WriteSegmentFile(
                folder,
                SharedMemorySegment.FileNameFor(Name, Environment.ProcessId, 2),
                SharedMemorySegment.Header(Name, Environment.ProcessId, 65536, SharedMemorySegment.ProcessToken, SharedMemorySegment.ProcessStartTime, creatorLocks: true));
            var otherServer = WriteSegmentFile(folder, SharedMemorySegment.FileNameFor(Name, 1, 3), SharedMemorySegment.Header("other", 1, 65536, token: 1, creatorLocks: true));

            using var server = await TestIpc.StartServerAsync($"shm://{Name}", ipc => ipc.AddSharedMemory(o => o.Directory = folder));

            Assert.False(File.Exists(runningProcess), "the unlocked segment naming a running process is still there");
            Assert.False(File.Exists(thisProcess), "the unlocked segment naming this process is still there");
            Assert.True(File.Exists(otherServer), "another server's segment was removed");
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Create_RecordsTheCreatorsStartTimeInTheHeader()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            using var segment = SharedMemorySegment.Create(folder, "starttime", 1, 65536);
            var stat = File.ReadAllText($"/proc/{Environment.ProcessId}/stat");
            var expected = ulong.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[22 - 3], System.Globalization.CultureInfo.InvariantCulture);

            var header = File.ReadAllBytes(Path.Combine(folder, segment.FileName));

            Assert.Equal(expected, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(96)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// A server whose process id a crashed server had before it (a container's process 1 with a kept Directory, say)
    /// finds that server's segment file under the name of its own first one: it removes it at start, as it removes any
    /// other dead server's, and its first handshake succeeds (with no retry to cover a failed one).
    /// </summary>
    [Fact]
    public async Task StartAsync_SegmentOfADeadServerWithThisProcessId_IsRemovedAndTheFirstHandshakeSucceeds()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            const string Name = "samepid";
            var leftover = Path.Combine(folder, SharedMemorySegment.FileNameFor(Name, Environment.ProcessId, 1));
            var content = new byte[SharedMemorySegment.HeaderSize + (2 * 65536)];
            SharedMemorySegment.Header(Name, Environment.ProcessId, 65536).CopyTo(content, 0);
            File.WriteAllBytes(leftover, content);

            using var server = await TestIpc.StartServerAsync($"shm://{Name}", ipc => ipc.AddSharedMemory(o => o.Directory = folder));
            await using (var client = TestIpc.CreateClient(
                $"shm://{Name}",
                ipc => ipc.AddSharedMemory(o => o.Directory = folder).ConfigureResilience(TestIpc.Endpoint, r => r.Retry.MaxRetryAttempts = 0)))
            {
                await TestIpc.AssertServesAsync(client);
            }

            Assert.False(File.Exists(leftover), "the dead server's segment is still there");

            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_HandshakeSocketAndSegments_AreTheOwnersAlone()
    {
        // Mode 0600 whatever the umask lets through (a file created without a mode would be 0644 under the usual 022): only
        // the server's user may connect to the socket or map a segment (root aside, as with any file).
        const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            using var server = await TestIpc.StartServerAsync("shm://modes", ipc => ipc.AddSharedMemory(o => o.Directory = folder));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(SharedMemoryTransport.SocketPath(folder, "modes")));

            // The segment the server makes for each client it accepts (removed as soon as the client has mapped it too).
            using (var segment = SharedMemorySegment.Create(folder, "modes", 1, 65536))
            {
                Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(folder, segment.FileName)));
            }

            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // SO_PEERCRED
    public async Task RequestAsync_ClientOfAnotherUser_ThrowsUnauthorizedNamingItsUserIdAndTheServerServesOthers()
    {
        // The server admits a user id other than this process's, so this process's clients come from another user, as far
        // as it can tell: the peer's id is the kernel's (SO_PEERCRED). (Another user's process is kept out before that by
        // the socket's mode; root's is not.)
        var self = NativeMethods.GetCurrentUserId();
        var admitted = self + 1;
        var address = SharedMemoryFiles.NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSharedMemory(o => o.AdmittedUserId = () => admitted));
        await using var refused = TestIpc.CreateClient(address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => refused.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unauthorized, ex.ErrorCode);
        Assert.Contains($"the server admits only processes of its own user, and this one runs as user id {self}", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SharedMemoryFiles.Of(new Uri(address).Host), file => !file.EndsWith(".sock", StringComparison.Ordinal)); // no segment was made for it

        admitted = self;
        await using var admittedClient = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(admittedClient);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task StartAndRequest_SocketPathLongerThanTheSystemAllows_FailSayingHowLongAndWhatToShorten()
    {
        var folder = Path.Combine(Path.GetTempPath(), "ipc-shm-tests-" + new string('d', 90));
        Directory.CreateDirectory(folder);
        try
        {
            var path = SharedMemoryTransport.SocketPath(folder, "longdir");
            var expected = $"its socket's path '{path}' is {path.Length} bytes, longer than this system lets a Unix socket's path be (108 bytes on Linux, 104 on macOS). Choose a shorter SharedMemory:Directory, or a shorter name.";
            Action<IIpcBuilder> longFolder = ipc => ipc.AddSharedMemory(o => o.Directory = folder);

            var start = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync("shm://longdir", longFolder));
            await using var client = TestIpc.CreateClient("shm://longdir", longFolder);
            var call = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(TestIpc.Bound));

            Assert.Contains(expected, start.Message, StringComparison.Ordinal);
            Assert.Equal(IpcErrorCode.Unavailable, call.ErrorCode);
            Assert.Contains(expected, call.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFiles(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task RequestAsync_MessagesLargerThanTheRing_ArriveWhole()
    {
        var address = SharedMemoryFiles.NewAddress();
        Action<IIpcBuilder> smallRings = ipc => ipc.AddSharedMemory(o => o.RingSize = 64 * 1024);
        using var server = await TestIpc.StartServerAsync(address, smallRings);
        await using var client = TestIpc.CreateClient(address, smallRings);
        var data = new byte[1024 * 1024];
        Random.Shared.NextBytes(data);

        var echoed = await client.Requests().RequestAsync<Payload, Payload>(ConformanceRoutes.Echo, new Payload(data)).AsTask().WaitAsync(TestIpc.Bound);

        Assert.Equal(data, echoed.Data);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task RequestAsync_WithoutDedicatedReaders_ServesRequestsAndStreams()
    {
        var address = SharedMemoryFiles.NewAddress();
        Action<IIpcBuilder> asynchronous = ipc => ipc.AddSharedMemory(o => o.DedicatedReaders = false);
        using var server = await TestIpc.StartServerAsync(address, asynchronous);
        await using var client = TestIpc.CreateClient(address, asynchronous);

        await TestIpc.AssertServesAsync(client);

        await server.StopAsync().WaitAsync(TestIpc.Bound);
        Assert.Empty(SharedMemoryFiles.Of(new Uri(address).Host));
    }

    /// <summary>
    /// ListenBacklog reaches the server's handshake socket: the kernel's backlog of its listening Unix socket (ss's Send-Q)
    /// is 7 with 7, and 512 by default (or net.core.somaxconn, when that is lower).
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // ss
    public async Task ListenBacklog_ReachesTheHandshakeSocket() =>
        await ListenBacklogs.AssertReachesTheListeningSocketAsync(
            SharedMemoryFiles.NewAddress,
            backlog => ipc => ipc.AddSharedMemory(o => o.ListenBacklog = backlog),
            address => ListenBacklogs.OfUnixAsync(SharedMemoryTransport.SocketPath(SharedMemoryFiles.Directory, address.Host)));

    /// <summary>
    /// A server removes its own handshake socket when it stops, not one another server of the name bound after someone
    /// removed the first one's: that server keeps serving, and its socket goes when it stops.
    /// </summary>
    [Fact]
    public async Task StopAsync_SocketFileRemovedAndNameTakenByAnotherServer_LeavesTheOtherOnesSocket()
    {
        var address = SharedMemoryFiles.NewAddress();
        var path = SharedMemoryTransport.SocketPath(SharedMemoryFiles.Directory, new Uri(address).Host);
        var first = await TestIpc.StartServerAsync(address);
        File.Delete(path);
        using var second = await TestIpc.StartServerAsync(address);

        await first.StopAsync().WaitAsync(TestIpc.Bound);
        first.Dispose();

        Assert.True(File.Exists(path), "the first server removed the second one's socket");
        await using (var client = TestIpc.CreateClient(address))
        {
            await TestIpc.AssertServesAsync(client);
        }

        await second.StopAsync().WaitAsync(TestIpc.Bound);
        Assert.False(File.Exists(path));
    }

    /// <summary>
    /// Only a socket file nobody answers on is replaced at start: anything else at the handshake socket's path (a file, a
    /// folder, a link, a named pipe) makes start fail at once, naming the path and what is there, and stays. A named pipe
    /// once made start hang: opening it to tell it from a socket file waits for a writer that never comes.
    /// </summary>
    [Theory]
    [InlineData("regular file")]
    [InlineData("directory")]
    [InlineData("symbolic link")]
    [InlineData("named pipe (FIFO)")]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_SomethingElseThanASocketAtTheSocketPath_FailsNamingItAndKeepsIt(string kind)
    {
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            var path = SharedMemoryTransport.SocketPath(folder, "taken");
            switch (kind)
            {
                case "regular file":
                    await File.WriteAllTextAsync(path, "a user's data");
                    break;
                case "directory":
                    Directory.CreateDirectory(path);
                    break;
                case "named pipe (FIFO)":
                    using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]))
                    {
                        await mkfifo.WaitForExitAsync().WaitAsync(TestIpc.Bound);
                        Assert.Equal(0, mkfifo.ExitCode);
                    }

                    break;
                default:
                    await File.WriteAllTextAsync(path + ".target", "a user's data");
                    File.CreateSymbolicLink(path, path + ".target");
                    break;
            }

            var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync("shm://taken", ipc => ipc.AddSharedMemory(o => o.Directory = folder)));

            Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains(kind, ex.Message, StringComparison.Ordinal);
            Assert.True(kind == "directory" ? Directory.Exists(path) : new FileInfo(path) is { LinkTarget: not null } or { Exists: true }, $"the {kind} at the path was removed");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The socket file of a server that was killed (nothing answers on it) is replaced at the next start.</summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task StartAsync_SocketFileADeadServerLeft_IsReplacedAndTheServerServes()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-shm-tests-").FullName;
        try
        {
            var path = SharedMemoryTransport.SocketPath(folder, "restarted");
            using (var dead = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
            {
                // .NET removes the file of a socket it closes; moving the file away first leaves a dead one behind, as a kill would.
                dead.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
                File.Move(path, path + ".dead");
                dead.Dispose();
                File.Move(path + ".dead", path);
            }

            Action<IIpcBuilder> configure = ipc => ipc.AddSharedMemory(o => o.Directory = folder);
            using var server = await TestIpc.StartServerAsync("shm://restarted", configure);
            await using (var client = TestIpc.CreateClient("shm://restarted", configure))
            {
                await TestIpc.AssertServesAsync(client);
            }

            await server.StopAsync().WaitAsync(TestIpc.Bound);
            Assert.False(File.Exists(path), "the server left its socket file");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task StartAsync_NameAlreadyServed_ThrowsUnavailable()
    {
        var address = SharedMemoryFiles.NewAddress();
        using var first = await TestIpc.StartServerAsync(address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync(address));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Contains("Another server is already listening", ex.Message, StringComparison.Ordinal);
        await first.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task RequestAsync_NoServer_ThrowsUnavailableAtOnce() => await TestIpc.AssertNoServerFailsAtOnceAsync(SharedMemoryFiles.NewAddress());

    [Fact]
    public void Validate_RingSizeNotAPowerOfTwo_NamesTheKey()
    {
        var result = new SharedMemoryTransportOptionsValidator().Validate("orders", new SharedMemoryTransportOptions { RingSize = 100_000 });

        Assert.True(result.Failed);
        Assert.Contains("Ipc:Endpoints:orders:SharedMemory:RingSize is 100000; it must be a power of two", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_Defaults_AreDocumented()
    {
        var options = new SharedMemoryTransportOptions();

        Assert.Equal(1024 * 1024, options.RingSize);
        Assert.Equal(SharedMemoryTransportOptions.DefaultSpin, options.ReaderSpin);
        Assert.Null(options.Directory);
        Assert.True(new SharedMemoryTransportOptionsValidator().Validate(null, options).Succeeded);
    }

    /// <summary>Writes a segment file of 64 KiB rings starting with <paramref name="header"/>, as a process that died would leave it.</summary>
    private static string WriteSegmentFile(string folder, string fileName, byte[] header)
    {
        var path = Path.Combine(folder, fileName);
        var content = new byte[SharedMemorySegment.HeaderSize + (2 * 65536)];
        header.CopyTo(content, 0);
        File.WriteAllBytes(path, content);
        return path;
    }
}
