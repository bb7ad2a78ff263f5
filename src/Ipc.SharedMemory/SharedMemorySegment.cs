using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;

namespace Ipc.SharedMemory;

/// <summary>
/// One connection's memory-mapped file: a header page, then two rings of <see cref="RingSize"/> bytes (client to server,
/// server to client). The server creates it (mode 0600, never over an existing file) and removes it once the client has
/// mapped it too, so a crash cannot leave it behind after that; a file left by a crash before is recognised by its name
/// and header and removed at the next server start (<see cref="RemoveStale"/>). Each side holds a shared advisory lock
/// (<c>flock</c>) on the file for as long as it maps it: the kernel lets it go when the process dies, so a file nobody
/// holds a lock on is one whose creator is gone, whatever process ids say.
/// </summary>
/// <remarks>
/// Header page layout (little-endian, offsets in bytes): 0 magic <c>"IPCSHM01"</c>; 8 version (u32, 1); 12 ring size
/// (u32); 16 creator process id (i32); 20 server name length (u16); 22 server name (ASCII, up to
/// <see cref="SharedMemoryTransport.MaxNameLength"/>); 88 creator token (u64, <see cref="ProcessToken"/>; 0 in files of
/// earlier versions, which readers ignore); 96 creator start time (u64, <see cref="ProcessStartTime"/>; 0 where unknown
/// and in files of earlier versions, whose creator counts as running while its process id does); 104 creator lock (u32,
/// 1 when the creator holds a lock on the file for as long as it runs; 0 where it could not take one and in files of
/// earlier versions, which are judged by their process id). Ring control blocks at 256 (client to server) and 512
/// (server to client), each laid out as <see cref="Ring"/> describes; ring data from 4096.
/// </remarks>
internal sealed unsafe class SharedMemorySegment : IDisposable
{
    public const string FilePrefix = "ipc-shm-";
    public const int HeaderSize = 4096;
    private const ulong Magic = 0x3130_4D48_5343_5049; // "IPCSHM01" read as a little-endian u64
    private const uint Version = 1;
    private const int TokenOffset = 88;
    private const int StartTimeOffset = 96;
    private const int CreatorLockOffset = 104;
    private const int HeaderFieldsSize = CreatorLockOffset + sizeof(uint);

    /// <summary>
    /// A random number, never 0, that this process writes into every segment it creates: a file that names this
    /// process's id but holds another token was left by a dead process that had the same id before.
    /// </summary>
    internal static readonly ulong ProcessToken = NewToken();

    /// <summary>
    /// When this process started, as the kernel counts it (Linux: field 22 of <c>/proc/&lt;pid&gt;/stat</c>, clock ticks since
    /// boot), written into every segment it creates; 0 where it is not known. A live process with the creator's id but
    /// another start time is not the creator: the creator died and its id went to a new process.
    /// </summary>
    internal static readonly ulong ProcessStartTime = StartTimeOf(Environment.ProcessId) ?? 0;

    /// <summary>The number of the next segment of this process: one count for every server of it, so that a server started again in the same process never names a file as its predecessor did.</summary>
    private static long s_created;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private string? _path;
    private int _disposed;

    private SharedMemorySegment(string? path, MemoryMappedFile file, int ringSize)
    {
        _path = path;
        _file = file;
        RingSize = ringSize;
        _view = file.CreateViewAccessor(0, HeaderSize + (2L * ringSize), MemoryMappedFileAccess.ReadWrite);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        Base = pointer + _view.PointerOffset;
    }

    /// <summary>Gets the first byte of the mapping.</summary>
    public byte* Base { get; }

    /// <summary>Gets the size of each ring.</summary>
    public int RingSize { get; }

    /// <summary>Gets the handle of the view: whoever touches <see cref="Base"/> holds a reference, so the view is unmapped only after the last one.</summary>
    public SafeHandle View => _view.SafeMemoryMappedViewHandle;

    /// <summary>Gets the file's name within its folder.</summary>
    public string FileName => System.IO.Path.GetFileName(_path ?? string.Empty);

    /// <summary>Returns the ring the client writes and the server reads.</summary>
    public Ring ClientToServer => new(Base + 256, Base + HeaderSize, RingSize);

    /// <summary>Returns the ring the server writes and the client reads.</summary>
    public Ring ServerToClient => new(Base + 512, Base + HeaderSize + RingSize, RingSize);

    /// <summary>The name of a segment of server <paramref name="name"/>: prefix, name, process id, counter.</summary>
    public static string FileNameFor(string name, int pid, long counter) => $"{FilePrefix}{name}-{pid}-{counter}";

    /// <summary>Creates a new segment file in <paramref name="directory"/>, mode 0600, under the next number of this process, and maps it.</summary>
    public static SharedMemorySegment Create(string directory, string name, int ringSize) =>
        Create(directory, name, Interlocked.Increment(ref s_created), ringSize);

    /// <summary>Creates a new segment file in <paramref name="directory"/>, mode 0600, and maps it.</summary>
    public static SharedMemorySegment Create(string directory, string name, long counter, int ringSize)
    {
        var path = System.IO.Path.Combine(directory, FileNameFor(name, Environment.ProcessId, counter));
        var length = HeaderSize + (2L * ringSize);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        var stream = new FileStream(path, options);
        try
        {
            // Locked before the header is written, and held until the mapping is disposed (the mapping keeps the stream): a
            // file with a header that says so, and no lock on it, is one whose creator has died.
            var locked = NativeMethods.TryLock(stream.SafeFileHandle, exclusive: false) == FileLock.Taken;
            stream.SetLength(length);
            var file = MemoryMappedFile.CreateFromFile(stream, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var segment = new SharedMemorySegment(path, file, ringSize);
            segment.WriteHeader(name, locked);
            return segment;
        }
        catch
        {
            stream.Dispose();
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Maps the segment <paramref name="fileName"/> a server of <paramref name="name"/> created, after checking its name and header.</summary>
    public static SharedMemorySegment Open(string directory, string name, string fileName)
    {
        if (!IsSegmentOf(name, fileName, out _))
        {
            throw new InvalidDataException($"The server named a segment '{fileName}' that is not one of shm://{name}.");
        }

        var path = System.IO.Path.Combine(directory, fileName);
        var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            // Held while mapped, as the server's: a server that dies before it removes the file leaves it to the next one
            // only once this client lets go of it too.
            _ = NativeMethods.TryLock(stream.SafeFileHandle, exclusive: false);
            if (!TryReadHeader(stream, out var header) || header.Owner != name
                || stream.Length != HeaderSize + (2L * header.RingSize))
            {
                throw new InvalidDataException($"The segment {path} has no valid header of shm://{name}.");
            }

            var file = MemoryMappedFile.CreateFromFile(stream, null, stream.Length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            return new SharedMemorySegment(null, file, header.RingSize); // the server owns the file and removes it; the client only maps it
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Removes the segment files of server <paramref name="name"/> in <paramref name="directory"/> whose creator process no
    /// longer runs: only files named as this transport names them and starting with its header. A file some process holds
    /// a lock on (its creator, or a client that still maps it) stays, whatever process id it names: it may come from
    /// another PID namespace sharing the folder. A file whose header says its creator locks it, and that this call can
    /// lock alone, is removed: its creator is dead. Any other file (of an earlier version, or where there are no locks)
    /// is judged by its process id: one that names this process's id is removed when its header holds another
    /// <see cref="ProcessToken"/> than this process's (a dead process that had the same id made it); one that names
    /// another process is removed when that process does not run, or (Linux) when its header holds a
    /// <see cref="ProcessStartTime"/> and the process's start time is another (the id went to a new process after the
    /// creator died). Returns how many it removed.
    /// </summary>
    public static int RemoveStale(string directory, string name)
    {
        var removed = 0;
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, FilePrefix + name + "-*"))
        {
            if (!IsSegmentOf(name, System.IO.Path.GetFileName(path), out var pid))
            {
                continue;
            }

            try
            {
                if (new FileInfo(path).LinkTarget is not null)
                {
                    continue;
                }

                // FileShare.Delete: on Windows, where there are no advisory locks, the file is removed while open only if
                // no other process has it open (its creator opens it without that share).
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

                // The header first: a file has one only once its creator holds its lock, so the lock tried below never
                // keeps a new segment's creator from taking its own.
                if (!TryReadHeader(stream, out var header) || header.Owner != name || header.Creator != pid)
                {
                    continue;
                }

                var stale = NativeMethods.TryLock(stream.SafeFileHandle, exclusive: true) switch
                {
                    FileLock.Held => false,
                    FileLock.Taken when header.CreatorLocks => true,
                    _ => CreatorIsGone(pid, header),
                };

                if (stale)
                {
                    File.Delete(path); // while this call holds the lock
                    removed++;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Another user's file, or one that went meanwhile: not ours to remove.
            }
        }

        return removed;
    }

    /// <summary>Writes the header of a segment of server <paramref name="name"/> (for tests that leave a stale one).</summary>
    internal static byte[] Header(string name, int pid, int ringSize, ulong token = 0, ulong startTime = 0, bool creatorLocks = false)
    {
        var header = new byte[HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)ringSize);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), pid);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(20), (ushort)name.Length);
        Encoding.ASCII.GetBytes(name, header.AsSpan(22));
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(TokenOffset), token);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(StartTimeOffset), startTime);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(CreatorLockOffset), creatorLocks ? 1u : 0u);
        return header;
    }

    /// <summary>Whether <paramref name="fileName"/> is named as a segment of server <paramref name="name"/>: prefix, name, then <c>&lt;pid&gt;-&lt;counter&gt;</c>.</summary>
    internal static bool IsSegmentOf(string name, string fileName, out int pid)
    {
        pid = 0;
        var prefix = FilePrefix + name + "-";
        if (!fileName.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = fileName.AsSpan(prefix.Length);
        var dash = rest.IndexOf('-');
        return dash > 0 && int.TryParse(rest[..dash], System.Globalization.NumberStyles.None, null, out pid)
            && long.TryParse(rest[(dash + 1)..], System.Globalization.NumberStyles.None, null, out _);
    }

    /// <summary>Removes the file; the mapping stays valid for both processes until they unmap it.</summary>
    public void Unlink()
    {
        var path = Interlocked.Exchange(ref _path, null);
        if (path is not null)
        {
            File.Delete(path);
        }
    }

    /// <summary>Removes the file if it is still there and lets the mapping go once nobody uses it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Unlink();
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    /// <summary>
    /// Whether the creator of a file that names process <paramref name="pid"/>, and that no lock tells about, is gone: by its
    /// token when the id is this process's, else by whether the process runs and (Linux) since when.
    /// </summary>
    private static bool CreatorIsGone(int pid, in SegmentHeader header) =>
        pid == Environment.ProcessId
            ? header.Token != ProcessToken
            : !NativeMethods.ProcessExists(pid) || (header.StartTime != 0 && StartTimeOf(pid) is { } now && now != header.StartTime);

    private static bool TryReadHeader(FileStream stream, out SegmentHeader header)
    {
        header = default;
        Span<byte> bytes = stackalloc byte[HeaderFieldsSize];
        if (stream.Length < HeaderSize || stream.Read(bytes) < bytes.Length
            || BinaryPrimitives.ReadUInt64LittleEndian(bytes) != Magic || BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]) != Version)
        {
            return false;
        }

        var size = BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]);
        var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[20..]);
        if (size < 4096 || size > int.MaxValue || !System.Numerics.BitOperations.IsPow2(size) || nameLength > SharedMemoryTransport.MaxNameLength)
        {
            return false;
        }

        header = new SegmentHeader(
            RingSize: (int)size,
            Creator: BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]),
            Owner: Encoding.ASCII.GetString(bytes.Slice(22, nameLength)),
            Token: BinaryPrimitives.ReadUInt64LittleEndian(bytes[TokenOffset..]),
            StartTime: BinaryPrimitives.ReadUInt64LittleEndian(bytes[StartTimeOffset..]),
            CreatorLocks: BinaryPrimitives.ReadUInt32LittleEndian(bytes[CreatorLockOffset..]) == 1);
        return true;
    }

    private void WriteHeader(string name, bool locked)
    {
        // The rest of the file is zero (a new file): counters at 0, nobody waiting, nothing closed.
        Header(name, Environment.ProcessId, RingSize, ProcessToken, ProcessStartTime, locked).AsSpan(0, HeaderFieldsSize).CopyTo(new Span<byte>(Base, HeaderSize));
    }

    /// <summary>
    /// Returns when process <paramref name="pid"/> started, in clock ticks since boot (field 22 of <c>/proc/&lt;pid&gt;/stat</c>),
    /// or null when that cannot be read: not Linux, no such process, or a <c>/proc</c> that hides it.
    /// </summary>
    internal static ulong? StartTimeOf(int pid)
    {
        if (!OperatingSystem.IsLinux() || pid <= 0)
        {
            return null;
        }

        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so the fields are counted after the last ')',
        // where field 3 (state) comes first and field 22 (starttime) is the twentieth.
        var close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19 && ulong.TryParse(fields[19], System.Globalization.NumberStyles.None, null, out var startTime) && startTime != 0
            ? startTime
            : null;
    }

    private static ulong NewToken()
    {
        ulong token;
        do
        {
            token = BinaryPrimitives.ReadUInt64LittleEndian(System.Security.Cryptography.RandomNumberGenerator.GetBytes(sizeof(ulong)));
        }
        while (token == 0);
        return token;
    }
}

/// <summary>The fields of a segment's header page that name its creator (see <see cref="SharedMemorySegment"/>).</summary>
internal readonly record struct SegmentHeader(int RingSize, int Creator, string Owner, ulong Token, ulong StartTime, bool CreatorLocks);
