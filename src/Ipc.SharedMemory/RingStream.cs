using System.Diagnostics;
using System.Net.Sockets;
using Ipc.Transports.Streams;

namespace Ipc.SharedMemory;

/// <summary>
/// A connected byte stream over the two rings of a <see cref="SharedMemorySegment"/>: writes copy into the outgoing ring
/// (in pieces when it is fuller than the write, waiting for the reader to drain it), reads copy out of the incoming one.
/// A side that waits spins for the spin budget, then sleeps on a futex in the mapping; the other side wakes it only when
/// its waiting flag is up, so a busy pair makes no system call at all. The Unix socket the connection was set up over
/// stays open: the kernel closes it when the peer's process dies, which ends this stream at once.
/// </summary>
/// <remarks>
/// One reader and one writer at a time, as the stream core uses it; <see cref="Stream.Dispose()"/> may come from any
/// thread and ends a read or write in progress. The mapping is unmapped only once no read, write or wake-up uses it.
/// </remarks>
internal sealed unsafe class RingStream : Stream, INonBlockingStream
{
    /// <summary>The longest sleep before a waiting side looks again: a safety net, since every change wakes it anyway.</summary>
    private static readonly TimeSpan s_sleepSlice = TimeSpan.FromMilliseconds(200);

    private readonly SharedMemorySegment _segment;
    private readonly Socket _socket;
    private readonly Ring _in;
    private readonly Ring _out;
    private readonly long _spinTicks;
    private volatile bool _closed;
    private volatile bool _peerGone;
    private int _disposed;
    private long _outHead; // the outgoing ring's head as this writer last read it (see Ring.Put)
    private long _outTail; // the outgoing ring's tail, which only this writer moves (see Ring.Put)

    public RingStream(SharedMemorySegment segment, Socket socket, bool server, TimeSpan spin)
    {
        _segment = segment;
        _socket = socket;
        _in = server ? segment.ClientToServer : segment.ServerToClient;
        _out = server ? segment.ServerToClient : segment.ClientToServer;
        _outHead = Volatile.Read(ref *_out.Head);
        _outTail = Volatile.Read(ref *_out.Tail);
        _spinTicks = Environment.ProcessorCount < 2 ? 0 : (long)(spin.TotalSeconds * Stopwatch.Frequency);
        _ = PeerWatch.RunAsync(socket, this);
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>Tells without blocking whether a read would return at once (bytes, the end, or a failure).</summary>
    public bool IsReadable()
    {
        if (!TryEnter())
        {
            return true;
        }

        try
        {
            return Readable();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Copies what the peer wrote without waiting, for the dedicated reader's spin: the poll that finds bytes takes them,
    /// with one look at the ring instead of a look and then a read.
    /// </summary>
    public int ReadAvailable(Span<byte> buffer)
    {
        if (buffer.IsEmpty || !TryEnter())
        {
            return INonBlockingStream.ReadNow;
        }

        try
        {
            var read = _in.Take(buffer);
            return read > 0 ? read : Readable() ? INonBlockingStream.ReadNow : INonBlockingStream.NothingYet; // the end or a failure: Read reports it
        }
        catch (IOException)
        {
            return INonBlockingStream.ReadNow; // a corrupt ring: Read finds it again and fails
        }
        finally
        {
            Exit();
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>Reads what the peer wrote, blocking until there is something; an empty buffer only waits. Returns 0 once the peer closed its side.</summary>
    public override int Read(Span<byte> buffer)
    {
        Enter();
        try
        {
            while (true)
            {
                if (buffer.IsEmpty)
                {
                    if (_in.Available != 0)
                    {
                        return 0; // a zero-byte read: there is something to read now
                    }
                }
                else if (_in.Take(buffer) is var read and > 0)
                {
                    return read;
                }

                if (_closed)
                {
                    throw new ObjectDisposedException(nameof(RingStream), "The shared-memory connection was closed.");
                }

                if (Volatile.Read(ref *_in.WriterClosed) != 0)
                {
                    if (_in.Available == 0)
                    {
                        return 0; // the peer closed its side after its last write
                    }

                    continue;
                }

                if (_peerGone)
                {
                    if (_in.Available == 0)
                    {
                        throw new IOException("The peer's process ended: its Unix socket closed without closing the shared-memory connection.");
                    }

                    continue;
                }

                Sleep(_in.DataSequence, _in.ReaderWaiting, forData: true);
            }
        }
        finally
        {
            Exit();
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (IsReadable() || SpinUntil(forData: true))
        {
            return new ValueTask<int>(Read(buffer.Span));
        }

        // Nothing within the spin: wait in the kernel on a thread of its own, not on the thread pool.
        return new ValueTask<int>(Task.Factory.StartNew(
            static state =>
            {
                var (stream, memory) = ((RingStream, Memory<byte>))state!;
                return stream.Read(memory.Span);
            },
            (this, buffer),
            CancellationToken.None,
            TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach,
            TaskScheduler.Default));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Writes every byte, in pieces when the ring has less room, waiting for the peer to drain it.</summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Enter();
        try
        {
            while (!buffer.IsEmpty)
            {
                ThrowIfCannotWrite();
                var written = _out.Put(buffer, ref _outHead, ref _outTail);
                if (written > 0)
                {
                    buffer = buffer[written..];
                }
                else if (!SpinUntil(forData: false))
                {
                    Sleep(_out.SpaceSequence, _out.WriterWaiting, forData: false);
                }
            }
        }
        finally
        {
            Exit();
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Enter();
        try
        {
            ThrowIfCannotWrite();
            buffer = buffer[_out.Put(buffer.Span, ref _outHead, ref _outTail)..];
        }
        finally
        {
            Exit();
        }

        if (buffer.IsEmpty)
        {
            return default;
        }

        // The ring is full: the rest waits for the reader on a thread of its own.
        return new ValueTask(Task.Factory.StartNew(
            static state =>
            {
                var (stream, memory) = ((RingStream, ReadOnlyMemory<byte>))state!;
                stream.Write(memory.Span);
            },
            (this, buffer),
            CancellationToken.None,
            TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach,
            TaskScheduler.Default));
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Closes both directions: the peer reads the end after the last bytes and its writes fail; wakes every waiter on both sides.</summary>
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _closed = true;
        if (TryEnter())
        {
            try
            {
                Volatile.Write(ref *_out.WriterClosed, 1);
                Volatile.Write(ref *_in.ReaderClosed, 1);
                WakeAll();
            }
            finally
            {
                Exit();
            }
        }

        _socket.Dispose();
        _segment.Dispose();
        base.Dispose(disposing);
    }

    private bool Readable() => _in.Available != 0 || _closed || _peerGone || Volatile.Read(ref *_in.WriterClosed) != 0;

    private bool Writable() => _out.Available < _out.Size || _closed || _peerGone || Volatile.Read(ref *_out.ReaderClosed) != 0;

    private void ThrowIfCannotWrite()
    {
        if (_closed)
        {
            throw new ObjectDisposedException(nameof(RingStream), "The shared-memory connection was closed.");
        }

        if (Volatile.Read(ref *_out.ReaderClosed) != 0)
        {
            throw new IOException("The peer closed the shared-memory connection.");
        }

        if (_peerGone)
        {
            throw new IOException("The peer's process ended: its Unix socket closed without closing the shared-memory connection.");
        }
    }

    /// <summary>Polls for up to the spin budget; returns whether the wait is over. Spins, then yields the processor between polls.</summary>
    private bool SpinUntil(bool forData)
    {
        if (_spinTicks == 0 || !TryEnter())
        {
            return false;
        }

        try
        {
            var start = Stopwatch.GetTimestamp();
            var spinner = default(SpinWait);
            do
            {
                if (forData ? Readable() : Writable())
                {
                    return true;
                }

                spinner.SpinOnce(sleep1Threshold: -1);
            }
            while (Stopwatch.GetTimestamp() - start < _spinTicks);
            return false;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Sleeps on <paramref name="sequence"/> until the other side signals it. The waiting flag goes up before the last
    /// look, and the other side reads it after publishing (each with a full fence between), so a change is never missed:
    /// either this look sees it or the other side sees the flag and bumps the sequence, which ends the sleep.
    /// </summary>
    private void Sleep(int* sequence, int* waiting, bool forData)
    {
        var seen = Volatile.Read(ref *sequence);
        Interlocked.Exchange(ref *waiting, 1);
        if (!(forData ? Readable() : Writable()))
        {
            NativeMethods.Wait(sequence, seen, s_sleepSlice);
        }

        Volatile.Write(ref *waiting, 0);
    }

    private void WakeAll()
    {
        Ring.Signal(_in.DataSequence);
        Ring.Signal(_in.SpaceSequence);
        Ring.Signal(_out.DataSequence);
        Ring.Signal(_out.SpaceSequence);
    }

    /// <summary>The peer closed the connection or its process died: every wait ends, and reads and writes fail once the bytes already there are read.</summary>
    public void PeerGone()
    {
        _peerGone = true;
        if (TryEnter())
        {
            try
            {
                WakeAll();
            }
            finally
            {
                Exit();
            }
        }
    }

    private void Enter()
    {
        var added = false;
        _segment.View.DangerousAddRef(ref added);
    }

    private bool TryEnter()
    {
        try
        {
            Enter();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private void Exit() => _segment.View.DangerousRelease();
}

/// <summary>Waits for the Unix socket of a connection to close: the peer closed the connection, or its process died.</summary>
internal static class PeerWatch
{
    public static async Task RunAsync(Socket socket, RingStream stream)
    {
        var buffer = new byte[1];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false) > 0)
            {
                // Nothing is sent after the handshake; a byte is ignored.
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        stream.PeerGone();
    }
}
