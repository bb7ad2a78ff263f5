using System.ComponentModel.DataAnnotations;
using Ipc.Transports.Streams;

namespace Ipc.SharedMemory;

/// <summary>
/// The options of the shared-memory transport (<c>shm://name</c>), bound from <c>Ipc:Transports:SharedMemory</c> and then
/// <c>Ipc:Endpoints:&lt;name&gt;:SharedMemory</c>, per endpoint.
/// </summary>
/// <remarks>
/// <see cref="StreamTransportOptions.ReaderSpin"/> is the spin budget: how long a side that waits for bytes (or for room in
/// the ring) polls the shared memory before it sleeps in the kernel. Its default here is
/// <see cref="DefaultSpin"/>.
/// </remarks>
public sealed class SharedMemoryTransportOptions : StreamTransportOptions
{
    /// <summary>The configuration section name under <c>Ipc:Transports</c> and <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "SharedMemory";

    /// <summary>The default spin budget (<see cref="StreamTransportOptions.ReaderSpin"/>) of shared-memory connections: 50 microseconds.</summary>
    public static readonly TimeSpan DefaultSpin = TimeSpan.FromMicroseconds(50);

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryTransportOptions"/> class.</summary>
    public SharedMemoryTransportOptions() => ReaderSpin = DefaultSpin;

    /// <summary>Gets or sets the size of each of a connection's two rings (one each way), in bytes; a power of two. A frame
    /// larger than the ring is written in pieces as the reader drains it.</summary>
    /// <value>The default value is 1,048,576 (1 MiB). At least 64 KiB, at most 256 MiB.</value>
    [Range(64 * 1024, 256 * 1024 * 1024)]
    public int RingSize { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets the folder of the segment files and of the Unix socket that clients find the server by. Client
    /// and server must use the same one.</summary>
    /// <value>The default value is <see langword="null"/>: <c>/dev/shm</c> on Linux, the temporary folder elsewhere.</value>
    public string? Directory { get; set; }

    /// <summary>Gets or sets how many connections may wait to be accepted on the server's Unix socket.</summary>
    /// <value>The default value is 512.</value>
    [Range(1, 65535)]
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Gets or sets where a server reads the user id it admits (this process's effective one when unset); tests name another to see a client refused.</summary>
    internal Func<uint>? AdmittedUserId { get; set; }
}
