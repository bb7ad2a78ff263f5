using System.ComponentModel.DataAnnotations;

namespace Ipc.Transports.Streams;

/// <summary>
/// The settings every stream transport shares (named pipes, Unix domain sockets, TCP): how many connections a client
/// opens and the limits of the framed connection. Adapter options derive from it.
/// </summary>
public class StreamTransportOptions
{
    /// <summary>Gets or sets how many connections a client opens to the server, at most. Requests and streams are spread
    /// over them; one-way messages all go over the first, so they stay in order.</summary>
    /// <value>The default value is 1: every call shares one connection, correlated by call id. At least 1, at most 64.</value>
    [Range(1, 64)]
    public int ConnectionPoolSize { get; set; } = 1;

    /// <summary>Gets or sets the largest route, ids and headers of one frame together, in bytes. A peer that sends more
    /// breaks the format and its connection is closed. Bodies are limited separately by the endpoint's <c>MaxMessageSize</c>.</summary>
    /// <value>The default value is 65,536 (64 KiB). At least 1 KiB, at most 16 MiB.</value>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxHeaderSize { get; set; } = 64 * 1024;

    /// <summary>Gets or sets how long a server waits for a new connection to finish its handshake (TLS included) and send the
    /// Ipc preface before closing it.</summary>
    /// <value>The default value is 10 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how many requests and streams one connection may have in flight at once. A server announces it
    /// to each client when the connection opens (as HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS does); the client queues calls
    /// past it until one ends, and a server answers a call past it with <see cref="IpcErrorCode.ResourceExhausted"/>.</summary>
    /// <remarks>Each call in flight holds its request, its handler's state and its response on the server, so this bounds
    /// what one client can make a server hold. One-way messages are bounded by <see cref="MaxQueuedOneWayMessages"/>.</remarks>
    /// <value>The default value is 100. At least 1, at most 1,048,576.</value>
    [Range(1, 1024 * 1024)]
    public int MaxConcurrentCallsPerConnection { get; set; } = 100;

    /// <summary>Gets or sets how many one-way messages a server holds for one connection before their handlers have run.
    /// A server announces it when the connection opens and grants more as handlers finish; a client waits for the grant
    /// before it sends more, so a slow or blocked one-way handler slows its senders instead of the server buffering.</summary>
    /// <remarks>Requests, cancellations and stream credits on the same connection are served meanwhile, as long as the
    /// bodies held stay under <see cref="MaxQueuedOneWayBytes"/>. The server grants back half the window at a time, so a
    /// client that sends faster than the handlers run waits once per half window: the default lets long runs of small
    /// messages flow with few waits, while <see cref="MaxQueuedOneWayBytes"/> bounds what large ones make the server hold.</remarks>
    /// <value>The default value is 16,384. At least 1, at most 1,048,576.</value>
    [Range(1, 1024 * 1024)]
    public int MaxQueuedOneWayMessages { get; set; } = 16 * 1024;

    /// <summary>Gets or sets how many bytes of one-way message bodies a server holds for one connection before their
    /// handlers have run. Past it, the server takes no further frame from the connection until handlers bring it back under,
    /// so a client that sends large one-way messages to a slow handler fills its own side of the connection instead of the
    /// server's memory.</summary>
    /// <remarks>Together with <see cref="MaxQueuedOneWayMessages"/>, which bounds how many, this bounds what one client's
    /// one-way messages make a server hold. One message may exceed it on its own.</remarks>
    /// <value>The default value is 16,777,216 (16 MiB). At least 64 KiB, at most 1 GiB.</value>
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int MaxQueuedOneWayBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Gets or sets how many bytes of frames a connection buffers before they are written. Writers past it wait for
    /// the connection to drain, and a server stops reading a connection while its unsent responses are past it, so a client
    /// that sends requests and never reads the answers is slowed down instead of growing the server.</summary>
    /// <remarks>One frame may exceed it on its own.</remarks>
    /// <value>The default value is 1,048,576 (1 MiB). At least 64 KiB, at most 1 GiB.</value>
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int MaxOutputBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets how long a server keeps a connection that has no call in flight and receives nothing. It then
    /// sends GoAway and closes it; the client opens a new connection on its next call, failing nothing.</summary>
    /// <value>The default value is 5 minutes. <see cref="Timeout.InfiniteTimeSpan"/> (or zero) keeps idle connections open.</value>
    [Range(typeof(TimeSpan), "-00:00:00.001", "1.00:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how long either side waits for the rest of a frame once its first bytes have arrived. A connection
    /// that stalls in the middle of a frame for longer is closed as broken (a client's calls on it fail with
    /// <see cref="IpcErrorCode.Unavailable"/>).</summary>
    /// <value>The default value is 30 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how many connections a server serves at once. A connection past it is told
    /// <see cref="IpcErrorCode.ResourceExhausted"/> with GoAway and closed.</summary>
    /// <value>The default value is 1,024. At least 1, at most 1,048,576.</value>
    [Range(1, 1024 * 1024)]
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Gets or sets a value indicating whether a server runs handlers on the connection's read loop until their
    /// first <see langword="await"/>, and one-way handlers to completion there, instead of handing each call to the thread
    /// pool. Unsafe: a handler that blocks before it awaits stalls every call of its connection, with nothing to end it.</summary>
    /// <remarks>Saves a thread hop per call on connections that read asynchronously (TLS, worker pipes,
    /// <see cref="DedicatedReaders"/> off). A handler that computes or blocks before it awaits then holds up every other call
    /// of its connection, with no watchdog: turn this on only for handlers that are quick or await early. A dedicated reader (<see cref="DedicatedReaders"/>) already runs
    /// requests itself, watched.</remarks>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool UnsafePreferInlineHandlers { get; set; }

    /// <summary>Gets or sets a value indicating whether a client completes a call on the connection's read loop, so the
    /// caller continues there until its next <see langword="await"/>, instead of on the thread pool. Unsafe: a caller that
    /// then blocks on another call of the same endpoint deadlocks the connection.</summary>
    /// <remarks>Saves a thread hop per call on connections that read asynchronously. A caller that then blocks (for example
    /// on <c>.Result</c> of another call on the same endpoint) stalls or deadlocks the connection, with no watchdog: turn
    /// this on only for callers that never block. A dedicated reader (<see cref="DedicatedReaders"/>) already completes
    /// calls itself, watched.</remarks>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool UnsafePreferInlineCompletions { get; set; }

    /// <summary>Gets or sets a value indicating whether each connection over a Unix domain socket, plain TCP or a named pipe
    /// reads on a thread of its own with blocking reads (and writes with blocking calls), instead of reading asynchronously
    /// on the thread pool.</summary>
    /// <remarks>The kernel then wakes the connection's reader directly when bytes arrive, and the reader runs the requests
    /// and completes the calls that those bytes brought, once their frames are handled: no event loop and no thread pool
    /// hand-off, the lowest latency for local IPC. The responses (and a caller's next requests) that this work writes go
    /// out together, up to 8 frames in one write. A handler that blocks, or a caller that waits on another call, holds no
    /// other call up: once it has held the reader for 10 to 20 ms, a new thread reads on (a connection whose reader was
    /// replaced 16 times within a minute hands its calls to the thread pool until that minute ends). It costs a thread
    /// per connection, up to <see cref="MaxDedicatedReaders"/> on a server; turn it off for large messages over a slow
    /// network, where a blocking write holds its thread until the peer has taken the bytes. TLS and worker pipes always
    /// read asynchronously.</remarks>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool DedicatedReaders { get; set; } = true;

    /// <summary>Gets or sets how many of a server's connections have a dedicated reader (<see cref="DedicatedReaders"/>) at
    /// once. Connections past this number read asynchronously on the thread pool, so a server with many clients holds at
    /// most this many reader threads; a connection's reader counts until the connection closes.</summary>
    /// <remarks>Clients are not affected: a client opens <see cref="ConnectionPoolSize"/> connections at most.</remarks>
    /// <value>The default value is 64. At least 1, at most 65,536.</value>
    [Range(1, 65536)]
    public int MaxDedicatedReaders { get; set; } = 64;

    /// <summary>Gets or sets how long a dedicated reader (<see cref="DedicatedReaders"/>) polls for more bytes before it
    /// blocks in a read.</summary>
    /// <remarks>A thread blocked in a read sleeps, and waking it when bytes arrive costs a context switch and often an
    /// interrupt to wake an idle processor: tens of microseconds, more in a virtual machine. A reply that comes within
    /// the spin is read without either, which roughly halves a local round trip. A socket (and a named pipe outside
    /// Windows) is read without waiting while the reader spins, so bytes that arrive are read by the call that finds
    /// them. The spin costs at most this much processor time after each read that leaves nothing more to read. After 20 us
    /// of polling back to back the reader yields its processor between polls, so a thread with work runs; at most one reader per
    /// processor spins at a time, and there is no spin on a machine with one processor or on a named pipe on Windows.
    /// The spin adapts: when nothing arrives within it, or the reader loses its processor in the middle of it (a busy
    /// machine), the reader blocks at once for the next 1 ms, twice as long after each further spin that does not pay,
    /// up to about a second. <see cref="TimeSpan.Zero"/> turns it off.</remarks>
    /// <value>The default value is 50 microseconds. At most 10 milliseconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:00.010")]
    public TimeSpan ReaderSpin { get; set; } = TimeSpan.FromMicroseconds(50);
}
