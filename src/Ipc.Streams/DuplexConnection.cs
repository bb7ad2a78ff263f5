using System.IO.Pipelines;

namespace Ipc.Transports.Streams;

/// <summary>
/// A connected duplex byte channel: the one seam between the stream core and a medium. The core reads the peer's bytes
/// from <see cref="Input"/> with one frame loop and writes whole frames, coalesced into batches, through
/// <see cref="WriteAsync"/>; the medium only moves bytes. Everything else (the wire format, multiplexing, cancellation,
/// stream credits, GoAway, limits, the connection pool) comes from the core.
/// </summary>
/// <remarks>
/// <para>Implement it for a medium that is not a <see cref="Stream"/> (ring buffers in shared memory, say), or wrap what
/// you have: <see cref="Create(IDuplexPipe, Action?)"/> for an <see cref="IDuplexPipe"/> (Kestrel's
/// <c>ConnectionContext.Transport</c> is one), <see cref="Create(Stream)"/> for a stream.</para>
/// <para>The core calls <see cref="WriteAsync"/> from one writer at a time and reads <see cref="Input"/> from one loop;
/// <see cref="Abort"/> may come from any thread at any time.</para>
/// </remarks>
public abstract class DuplexConnection : IAsyncDisposable
{
    /// <summary>Gets the bytes the peer sent. The core reads it from one loop and completes it when the connection ends;
    /// a completed result with no more bytes means the peer closed its side.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>
    /// Writes one batch of whole frames to the peer. Returns once the medium has taken every byte: the core reuses the
    /// memory afterwards. Throw <see cref="IOException"/> (or <see cref="ObjectDisposedException"/>) once the connection
    /// is gone; the core then fails the calls that were waiting on it.
    /// </summary>
    /// <param name="frames">Whole frames, ready to go as they are.</param>
    public abstract ValueTask WriteAsync(ReadOnlyMemory<byte> frames);

    /// <summary>
    /// Ends the connection at once: a read pending on <see cref="Input"/> returns (cancelled or completed), a write in
    /// progress or later fails, and the peer sees the connection closed. Called once the core closes the connection, from
    /// any thread; must not throw or block.
    /// </summary>
    public abstract void Abort();

    /// <summary>Releases the medium. Called once, after the core's frame loop has ended and it no longer writes.</summary>
    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// Gets or sets who is at the other end, as the server reports it to handlers (<see cref="IpcContext.RemoteAddress"/>)
    /// and in its failure logs: <c>ip:port</c>, <c>pid=… uid=…</c>, a name. Set it once, when the connection is accepted
    /// or authenticated: the core sets the same string on every message of the connection. <see langword="null"/> (the
    /// default) names no peer.
    /// </summary>
    public string? RemoteAddress { get; set; }

    /// <summary>Gets a value indicating whether the frame loop runs on a dedicated reader thread that runs work itself (<see cref="TryDefer"/>).</summary>
    internal virtual bool HasDedicatedReader => false;

    /// <summary>
    /// Gets how reading the medium failed (the peer reset the connection), once <see cref="Input"/> has completed: a medium
    /// that fills the pipe itself completes it without the error, so that the frames already in it are read first, and
    /// the frame loop then ends with this. <see langword="null"/> when the peer closed its side, or the medium reports
    /// failures through <see cref="Input"/> itself.
    /// </summary>
    internal virtual Exception? InputFailure => null;

    /// <summary>
    /// Wraps an <see cref="IDuplexPipe"/>: the core reads its <see cref="IDuplexPipe.Input"/> and writes to its
    /// <see cref="IDuplexPipe.Output"/>. Disposing completes both ends.
    /// </summary>
    /// <param name="transport">The connected pipe pair.</param>
    /// <param name="abort">Called once on <see cref="Abort"/>, after the pipe's ends were completed: close the medium behind the pipes here, if any.</param>
    public static DuplexConnection Create(IDuplexPipe transport, Action? abort = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        return new PipeDuplexConnection(transport, abort);
    }

    /// <summary>Wraps a connected <see cref="Stream"/>, read asynchronously. Disposing the connection disposes the stream.</summary>
    /// <param name="stream">A connected stream that reads and writes.</param>
    public static DuplexConnection Create(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new StreamDuplexConnection(stream, blockingIo: false, isReadable: null, TimeSpan.Zero);
    }

    /// <summary>
    /// Wraps a connected operating-system <see cref="Stream"/> (a socket, a named pipe) whose blocking reads end when the
    /// stream is disposed. When the core grants it one (<see cref="StreamTransportOptions.DedicatedReaders"/>,
    /// <see cref="StreamTransportOptions.MaxDedicatedReaders"/>), the connection reads on a thread of its own with
    /// blocking calls and runs the frames it reads on that thread; otherwise it reads asynchronously.
    /// </summary>
    /// <param name="stream">A connected stream whose synchronous <see cref="Stream.Read(Span{byte})"/> blocks in the kernel.</param>
    /// <param name="isReadable">
    /// Tells, without blocking, whether a read would return at once (bytes arrived, the peer closed, the stream failed).
    /// With it, the reader polls for up to <paramref name="readerSpin"/> before it blocks, which saves a wake-up when a
    /// reply comes soon; <see langword="null"/> blocks at once. On a <see cref="System.Net.Sockets.NetworkStream"/>, and
    /// outside Windows a <see cref="System.IO.Pipes.PipeStream"/>, the reader then spins with reads that do not wait
    /// instead of asking this, so bytes that arrive are read by the call that finds them. A stream that implements
    /// <see cref="INonBlockingStream"/> is polled with its own reads that do not wait, and this is not needed.
    /// </param>
    /// <param name="readerSpin">How long to poll before blocking; <see cref="TimeSpan.Zero"/> blocks at once.</param>
    public static DuplexConnection CreateWithDedicatedReader(Stream stream, Func<bool>? isReadable, TimeSpan readerSpin)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new StreamDuplexConnection(stream, blockingIo: true, isReadable, readerSpin);
    }

    /// <summary>
    /// Called once by the core before it writes or reads: whether this connection may read on a dedicated thread
    /// (granted by <see cref="StreamTransportOptions.DedicatedReaders"/> and, on a server,
    /// <see cref="StreamTransportOptions.MaxDedicatedReaders"/>).
    /// </summary>
    internal virtual void Attach(ReaderHost host, bool dedicatedReader)
    {
    }

    /// <summary>
    /// Runs <paramref name="frameLoop"/>, the core's reader of <see cref="Input"/>, until it ends. A medium with a
    /// dedicated reader thread starts the loop on that thread.
    /// </summary>
    internal virtual Task RunAsync(Func<Task> frameLoop) => frameLoop();

    /// <summary>
    /// Leaves <paramref name="work"/> to the dedicated reader when the frame loop runs on it: the reader runs it as soon as
    /// the loop has handled the bytes of this read. Returns <see langword="false"/> when the caller must hand the work to
    /// the thread pool instead.
    /// </summary>
    internal virtual bool TryDefer(IReaderWork work) => false;

    /// <summary>
    /// Called by the frame loop once it has handled and consumed every byte of a read, before it waits for more: runs the
    /// work it left (<see cref="TryDefer"/>) there and then, on the dedicated reader, so that a reply that work writes goes
    /// out before the loop's own bookkeeping. Returns <see langword="null"/> when the loop goes on; otherwise a new reader
    /// took over while the work held this one (and a new frame loop with it, from where this one stopped), and the task
    /// ends when that loop ends: this loop must wait for it and touch <see cref="Input"/> no more.
    /// </summary>
    internal virtual Task? RunWorkInPlace() => null;

    /// <summary>
    /// Whether the rest of a large frame's body can be read straight from the medium into a buffer of the frame loop's
    /// (<see cref="ReadInto"/>) instead of through <see cref="Input"/>: only on a dedicated reader, while the frame loop
    /// runs inside the reader's hand-off of the bytes it read, and only when the loop holds every byte read so far.
    /// </summary>
    /// <param name="position">The count of the medium's bytes the loop consumed before the ones it holds.</param>
    /// <param name="held">The count of bytes the loop holds (read from <see cref="Input"/>, not consumed yet).</param>
    internal virtual bool CanReadInto(long position, long held) => false;

    /// <summary>
    /// After <see cref="CanReadInto"/> said yes, from the same thread: has the reader fill <paramref name="target"/> with the
    /// medium's next bytes before it reads into <see cref="Input"/> again. The task completes on the reader, with
    /// <see langword="true"/> once every byte is there, <see langword="false"/> when the peer closed first; it fails as a
    /// read of <see cref="Input"/> would when the medium fails.
    /// </summary>
    internal virtual Task<bool> ReadInto(Memory<byte> target) => throw new NotSupportedException();
}

/// <summary>What a dedicated reader needs of the connection it reads for: where to log, how to name it, the largest frame, and the clock of its watchdog.</summary>
internal sealed record ReaderHost(Microsoft.Extensions.Logging.ILogger Logger, string Description, long MaxFrameSize, TimeProvider Time)
{
    /// <summary>Gets or sets where the connection reports its reader replacements, if anywhere.</summary>
    public Ipc.Diagnostics.IpcTransportTelemetry? Telemetry { get; set; }

    /// <summary>Gets what the connection does around each run of the work its dedicated reader was left, if anything.</summary>
    public IReaderWorkScope? WorkScope { get; init; }
}

/// <summary>What a connection does around the work its dedicated reader runs after a read (see <see cref="DuplexConnection.TryDefer"/>).</summary>
internal interface IReaderWorkScope
{
    /// <summary>
    /// Called on the reader before it runs each piece of the work of one read; <paramref name="more"/> tells whether more of
    /// that work waits to run after it.
    /// </summary>
    void Begin(bool more);

    /// <summary>
    /// Called once all of that work is done, on the same thread; and with <paramref name="replaced"/> on a new reader that took
    /// over from one held by its work, which may still be running it.
    /// </summary>
    void End(bool replaced);
}
