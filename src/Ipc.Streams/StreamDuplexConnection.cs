using System.Diagnostics;
using System.IO.Pipelines;

namespace Ipc.Transports.Streams;

/// <summary>
/// A <see cref="DuplexConnection"/> over a <see cref="Stream"/>. Reads asynchronously through a <see cref="PipeReader"/>,
/// or, for an operating-system stream granted a dedicated reader, on a thread of its own with blocking reads: the kernel
/// then wakes the reader directly when bytes arrive, and the frame loop runs on that thread, with no event loop or thread
/// pool hand-off in between.
/// </summary>
internal sealed class StreamDuplexConnection : DuplexConnection
{
    /// <summary>The least a dedicated reader asks the stream for in one read.</summary>
    private const int ReceiveChunk = 16 * 1024;

    private readonly Stream _stream;
    private readonly bool _blockingIo;
    private readonly Func<bool>? _isReadable;
    private readonly TimeSpan _readerSpin;
    private PipeReader? _input;
    private ReaderHost? _host;
    private int _aborted;

    // The dedicated reader (null without one). The frame loop leaves work to it (TryDefer), which it runs once the loop
    // has handled a read's bytes (RunWorkInPlace), or else once the loop waits for more. _readerBusy is the epoch of the
    // work running (0: none; -1: the reader was replaced while it ran).
    private Pipe? _received;
    private TaskCompletionSource? _readerDone;
    private ReadablePoll? _poll;
    private ReaderWatchdog? _watchdog;
    private List<IReaderWork>? _readerWork;
    private int _readerWorkNext;
    private int _readerThreadId;
    private int _readerOsThreadId;
    private long _watchedRunQueueWait = -1;
    private readonly ThreadSchedule.Reader _runQueueWait = new();
    private long _readerEpoch;
    private long _readerBusy;
    private long _watchedEpoch;
    private ReplacementBudget? _replacements;
    private volatile bool _readerWorkAllowed;

    // Work run inside the frame loop (RunWorkInPlace) holds the loop as well: a reader replaced then hands the loop's place
    // to a new frame loop (_frameLoop, started by the new reader), which _successor gives the old loop to wait for.
    // t_handedOff tells the old reader, once the flush it ran the loop in returns, that it was replaced that way.
    // t_flushing is the connection whose flush this thread runs the frame loop in, where work may run in place.
    [ThreadStatic]
    private static bool t_handedOff;
    [ThreadStatic]
    private static StreamDuplexConnection? t_flushing;
    private Func<Task>? _frameLoop;
    private int _inPlace;
    private TaskCompletionSource<Task>? _successor;

    // Direct reads of large bodies (ReadInto): the count of the stream's bytes the reader has taken (into the pipe or a
    // target), whether the frame loop is running inside the reader's flush, and the target the reader fills next.
    private long _taken;
    private bool _handingOver;
    private Memory<byte> _intoTarget;
    private TaskCompletionSource<bool>? _intoDone;
    private Exception? _inputFailure; // how the dedicated reader's reads failed, once it completed the pipe

    public StreamDuplexConnection(Stream stream, bool blockingIo, Func<bool>? isReadable, TimeSpan readerSpin)
    {
        _stream = stream;
        _blockingIo = blockingIo;
        _isReadable = isReadable;
        _readerSpin = readerSpin;
    }

    /// <summary>Gets how many unread bytes the pipe of a dedicated reader takes before its reader waits: a whole frame and one read.</summary>
    private long PauseThreshold => _host!.MaxFrameSize + ReceiveChunk;

    /// <summary>Gets the stream, for an acceptor that finishes a handshake on it before framing.</summary>
    internal Stream Stream => _stream;

    /// <remarks>Reads asynchronously wait for bytes with a zero-byte read first, so an idle connection holds no buffer.</remarks>
    public override PipeReader Input => _input ??= PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, leaveOpen: true, useZeroByteReads: true));

    internal override bool HasDedicatedReader => _readerWork is not null;

    internal override Exception? InputFailure => Volatile.Read(ref _inputFailure);

    /// <summary>Gets a value indicating whether the dedicated reader is running work at this moment (for the watchdog).</summary>
    internal bool IsRunningReaderWork => Volatile.Read(ref _readerBusy) > 0;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> frames)
    {
        if (_received is not null)
        {
            // A dedicated reader's connection writes with blocking calls too: one asynchronous call would switch a socket to
            // non-blocking mode, and .NET would then emulate every blocking read through its event loop.
            _stream.Write(frames.Span);
            return default;
        }

        return WriteAndFlushAsync(frames);
    }

    public override void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _input?.CancelPendingRead();
        try
        {
            _stream.Dispose(); // ends a blocked read, fails a write blocked on a full buffer
        }
        catch (IOException)
        {
            // Disposing flushes what some streams buffer; the connection is gone either way.
        }
    }

    public override async ValueTask DisposeAsync()
    {
        Abort();
        if (_input is not null)
        {
            await _input.CompleteAsync().ConfigureAwait(false);
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
        if (_readerDone is not null)
        {
            await _readerDone.Task.ConfigureAwait(false); // the stream is gone, so its blocked read has returned
        }
    }

    internal override void Attach(ReaderHost host, bool dedicatedReader)
    {
        _host = host;
        if (!dedicatedReader || !_blockingIo)
        {
            return;
        }

        // The frame loop reads this pipe; its reader runs inline on the thread that writes it (the dedicated reader).
        var limit = PauseThreshold;
        _received = new Pipe(new PipeOptions(
            pauseWriterThreshold: limit,
            resumeWriterThreshold: limit / 2,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false));
        _readerDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _input = _received.Reader;
        _readerWork = [];
        _readerWorkAllowed = true;
        _replacements = new ReplacementBudget(host.Time);
        // A stream that reads without waiting (and, given a probe to spin on, a socket or a named pipe outside Windows) is
        // read that way during the spin, so bytes that come are read by the call that finds them; another stream asks the
        // probe and reads after it.
        _poll = _stream is INonBlockingStream nonBlocking ? ReadablePoll.Create(nonBlocking.ReadAvailable, _readerSpin)
            : _isReadable is null ? null
            : UnixReceive.For(_stream) is { } readAvailable ? ReadablePoll.Create(readAvailable, _readerSpin)
            : ReadablePoll.Create(_isReadable, _readerSpin);
        _watchdog = ReaderWatchdog.For(host.Time);
    }

    internal override async Task RunAsync(Func<Task> frameLoop)
    {
        if (_received is null)
        {
            await frameLoop().ConfigureAwait(false);
            return;
        }

        // The reader thread starts the frame loop itself, so the loop waits for its first bytes on that thread and every
        // frame after them is handled there, not on the thread that called this.
        _frameLoop = frameLoop;
        var frames = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = new Thread(static state =>
        {
            var (connection, frames, frameLoop) = ((StreamDuplexConnection, TaskCompletionSource<Task>, Func<Task>))state!;
            connection._readerThreadId = Environment.CurrentManagedThreadId;
            connection._readerOsThreadId = ThreadSchedule.CurrentThreadId();
            connection._watchdog!.Add(connection);
            frames.SetResult(frameLoop());
            connection.ReceiveLoop();
        })
        {
            IsBackground = true,
            Name = "Ipc connection reader",
        };
        reader.UnsafeStart((this, frames, frameLoop));
        await (await frames.Task.ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <remarks>
    /// Work that holds the reader for more than <see cref="ReaderWatchdog.Threshold"/> (a handler that computes or blocks,
    /// a caller that waits on another call of this connection) does not stall the connection: a new thread takes over
    /// reading. A first call's compilation can do that once; a connection whose reader was replaced 16 times within a
    /// minute hands its work to the thread pool until that minute ends, then runs it on its reader again.
    /// </remarks>
    internal override bool TryDefer(IReaderWork work)
    {
        if (Environment.CurrentManagedThreadId != _readerThreadId || (!_readerWorkAllowed && !ResumeReaderWork()))
        {
            return false;
        }

        _readerWork!.Add(work);
        return true;
    }

    /// <remarks>
    /// The work runs before the frame loop waits for the pipe again, so that a response a handler writes, or the next
    /// request of a caller the call's completion continues, goes out without waiting for that bookkeeping: each side of a
    /// round trip starts the other's work sooner. Only inside the reader's own flush, where the loop holds nothing of the
    /// input; elsewhere the reader runs the work after the flush, as before.
    /// </remarks>
    internal override Task? RunWorkInPlace()
    {
        if (t_flushing != this || _readerWork is not { } work || _readerWorkNext >= work.Count || Environment.CurrentManagedThreadId != _readerThreadId)
        {
            return null;
        }

        Volatile.Write(ref _inPlace, 1);
        if (RunReaderWork())
        {
            Volatile.Write(ref _inPlace, 0);
            return null;
        }

        // Replaced while the work held this thread: the watchdog set _successor before it took the reader away, and the new
        // reader starts a frame loop from here (ResumeReading). This thread leaves once its flush returns (ReceiveLoop).
        t_handedOff = true;
        return Volatile.Read(ref _successor)!.Task.Unwrap();
    }

    /// <summary>
    /// The watchdog's check: replaces the reader when the same work has been running since the last check. Returns
    /// whether the reader ran work since the last check.
    /// </summary>
    /// <param name="realTime">Whether the checks run on real time, where a period is a real millisecond (not on fake time in tests).</param>
    /// <param name="collected">Whether the garbage collector paused the process, or the JIT compiler compiled, for most of the period.</param>
    internal bool CheckReaderWork(bool realTime, bool collected)
    {
        var busy = Volatile.Read(ref _readerBusy);
        var epoch = Volatile.Read(ref _readerEpoch);
        var ranSince = epoch != _watchedEpoch;
        _watchedEpoch = epoch;
        var starved = collected;
        if (busy > 0 && realTime)
        {
            // A reader the machine kept off the processor for most of the period is not held by its work: on a busy machine
            // (more runnable threads than processors) short work can take milliseconds, and replacing its reader would
            // only add threads.
            var waited = _runQueueWait.Read(Volatile.Read(ref _readerOsThreadId));
            starved |= !ranSince && waited >= 0 && _watchedRunQueueWait >= 0 && waited - _watchedRunQueueWait > ReaderWatchdog.Threshold.Ticks * TimeSpan.NanosecondsPerTick / 2;
            _watchedRunQueueWait = waited;
        }

        if (busy > 0 && !ranSince && !starved)
        {
            // Work that runs in place holds the frame loop too: the new reader then starts a frame loop of its own. _inPlace
            // does not change while the work of epoch `busy` runs, and the exchange below succeeds only while it does.
            var successor = Volatile.Read(ref _inPlace) != 0 ? new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously) : null;
            if (successor is not null)
            {
                Volatile.Write(ref _successor, successor);
            }

            if (Interlocked.CompareExchange(ref _readerBusy, -1, busy) == busy)
            {
                Replace(successor);
            }
        }

        return ranSince || busy > 0;
    }

    /// <summary>The watchdog took the reader away from work that held it: a new thread reads on (and, given <paramref name="successor"/>, runs the frame loop on).</summary>
    private void Replace(TaskCompletionSource<Task>? successor)
    {
        // Held for a whole period: a new thread reads on. The old one leaves when its work returns.
        _readerWorkAllowed = false;
        _host?.Telemetry?.ReaderReplaced();
        if (_replacements!.Replaced())
        {
            // The new reader leaves work to the thread pool until the window ends (see ResumeReaderWork).
            Log.ReaderWorkStopped(_host!.Logger, _host.Description, ReplacementBudget.Limit, ReaderWatchdog.Threshold, ReplacementBudget.Window);
        }

        new Thread(static state =>
        {
            var (connection, successor) = ((StreamDuplexConnection, TaskCompletionSource<Task>?))state!;
            connection.ResumeReading(successor);
        })
        {
            IsBackground = true,
            Name = "Ipc connection reader",
        }.UnsafeStart((this, successor));
    }

    /// <remarks>
    /// Holding fewer bytes than the pipe's pause threshold, the loop holds no flush back: the reader gets to the target
    /// without waiting for the loop, which waits for the target.
    /// </remarks>
    internal override bool CanReadInto(long position, long held) =>
        _handingOver && Environment.CurrentManagedThreadId == _readerThreadId && position + held == _taken && held < PauseThreshold;

    internal override Task<bool> ReadInto(Memory<byte> target)
    {
        Debug.Assert(_handingOver && _intoDone is null, "ReadInto is called from the frame loop inside the reader's flush, once at a time");

        // No RunContinuationsAsynchronously: the frame loop goes on inline, on the reader, as it does inside a flush.
        _intoDone = new TaskCompletionSource<bool>();
        _intoTarget = target;
        return _intoDone.Task;
    }

    private async ValueTask WriteAndFlushAsync(ReadOnlyMemory<byte> frames)
    {
        await _stream.WriteAsync(frames).ConfigureAwait(false);
        await _stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>The dedicated reader: blocking reads into the pipe until the peer closes, the stream is disposed or the frame loop stops.</summary>
    private void ReceiveLoop()
    {
        var writer = _received!.Writer;
        Exception? failure = null;
        var replaced = false;
        try
        {
            while (true)
            {
                if (_intoDone is not null)
                {
                    if (!ReadIntoTarget())
                    {
                        break; // the peer closed its side in the middle of the body
                    }

                    if (!RunReaderWork())
                    {
                        replaced = true;
                        return;
                    }

                    continue;
                }

                // A reply that comes within the spin is read without sleeping and being woken.
                var buffer = writer.GetMemory(ReceiveChunk).Span;
                var read = Read(buffer);
                if (read == 0)
                {
                    break; // the peer closed its side
                }

                writer.Advance(read);
                _taken += read;

                // The frame loop runs inside this flush, on this thread. It pends only when a frame's handling waits;
                // past the pause threshold this thread then waits for it instead of reading on.
                _handingOver = true;
                t_flushing = this;
                ValueTask<FlushResult> flush;
                try
                {
                    flush = writer.FlushAsync();
                }
                finally
                {
                    _handingOver = false; // after a hand-off, a moment in which the new reader reads no body straight
                    t_flushing = null;
                }

                if (t_handedOff)
                {
                    // Replaced while running work inside the frame loop: the new reader owns the stream and the pipe now.
                    t_handedOff = false;
                    replaced = true;
                    return;
                }

                if (!flush.IsCompleted)
                {
                    HandReaderWorkToThreadPool(); // nothing the loop left may wait for the loop
                }

                var result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
                if (!RunReaderWork())
                {
                    replaced = true; // replaced while running work: the new reader owns the pipe now
                    return;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            failure = ex; // disposed, reset by the peer: the frame loop sees the same as with asynchronous reads
        }
        finally
        {
            if (!replaced)
            {
                _watchdog!.Remove(this);
                _runQueueWait.Dispose(); // a check still running gets -1 from it
                // The pipe completes without the failure: a pipe completed with an exception throws it at the next read,
                // and the frames this reader put in it while the loop waited (a handler, a full one-way queue) would be
                // lost with it. The loop reads them, then ends with the failure (InputFailure).
                Volatile.Write(ref _inputFailure, failure);
                writer.Complete();
                if (_intoDone is { } into)
                {
                    // The frame loop waited for a body: it learns here that the peer closed, or how the stream failed.
                    _intoDone = null;
                    _ = failure is null ? into.TrySetResult(false) : into.TrySetException(failure);
                }

                HandReaderWorkToThreadPool(); // work the frame loop left that this thread will not run now: none is lost
                _readerDone!.TrySetResult();
            }
        }
    }

    /// <summary>A read that spins for the reply first, then blocks.</summary>
    private int Read(Span<byte> buffer)
    {
        var read = _poll?.SpinRead(buffer) ?? -1;
        return read < 0 ? _stream.Read(buffer) : read;
    }

    /// <summary>
    /// Fills the frame loop's target (<see cref="ReadInto"/>) straight from the stream, then lets the loop go on with the
    /// frame, on this thread. Returns <see langword="false"/> when the peer closed first.
    /// </summary>
    private bool ReadIntoTarget()
    {
        var target = _intoTarget;
        _intoTarget = default;
        for (var filled = 0; filled < target.Length;)
        {
            var read = Read(target.Span[filled..]);
            if (read == 0)
            {
                return false; // the finally of the receive loop tells the frame loop
            }

            filled += read;
            _taken += read;
        }

        var done = _intoDone!;
        _intoDone = null;
        done.SetResult(true); // the frame loop handles the frame inside this call
        return true;
    }

    /// <summary>Runs the work the frame loop left, in order; returns <see langword="false"/> when this thread was replaced meanwhile.</summary>
    private bool RunReaderWork()
    {
        var work = _readerWork!;
        if (_readerWorkNext < work.Count)
        {
            var scope = _host!.WorkScope;
            try
            {
                while (_readerWorkNext < work.Count)
                {
                    var next = work[_readerWorkNext++];
                    var epoch = Volatile.Read(ref _readerEpoch) + 1;
                    Volatile.Write(ref _readerEpoch, epoch);
                    Interlocked.Exchange(ref _readerBusy, epoch);
                    _watchdog!.Watch();
                    scope?.Begin(more: _readerWorkNext < work.Count);
                    next.Run();
                    if (Interlocked.CompareExchange(ref _readerBusy, 0, epoch) != epoch)
                    {
                        return false;
                    }
                }
            }
            finally
            {
                scope?.End(replaced: false);
            }
        }

        work.Clear();
        _readerWorkNext = 0;
        return true;
    }

    /// <summary>
    /// The new reader after the old one was held too long: the old one's remaining work goes to the thread pool. Given
    /// <paramref name="successor"/>, the old one was held inside the frame loop, which stopped between two reads with
    /// nothing held: a new frame loop starts from there, and the old one waits for it.
    /// </summary>
    private void ResumeReading(TaskCompletionSource<Task>? successor)
    {
        _readerThreadId = Environment.CurrentManagedThreadId;
        Volatile.Write(ref _readerOsThreadId, ThreadSchedule.CurrentThreadId());
        HandReaderWorkToThreadPool();
        _host!.WorkScope?.End(replaced: true); // what the held work wrote so far goes out now; what it writes later, at once
        Volatile.Write(ref _readerBusy, 0);
        _readerWorkAllowed = _replacements!.AllowsReaderWork;
        if (successor is not null)
        {
            Volatile.Write(ref _inPlace, 0);
            successor.SetResult(_frameLoop!()); // waits for the next bytes, which this thread reads
        }

        ReceiveLoop();
    }

    /// <summary>On the reader, while its work goes to the thread pool: takes work again once the replacement window has ended.</summary>
    private bool ResumeReaderWork()
    {
        if (!_replacements!.TryResume())
        {
            return false;
        }

        _readerWorkAllowed = true;
        Log.ReaderWorkResumed(_host!.Logger, _host.Description);
        return true;
    }

    private void HandReaderWorkToThreadPool()
    {
        var work = _readerWork!;
        for (var i = _readerWorkNext; i < work.Count; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static item => item.Run(), work[i], preferLocal: false);
        }

        work.Clear();
        _readerWorkNext = 0;
    }
}
