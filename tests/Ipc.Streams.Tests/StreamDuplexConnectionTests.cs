using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using Ipc.TestUtils;
using Ipc.Transports.Streams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Streams.Tests;

/// <summary>
/// The reader hand-off of <see cref="StreamDuplexConnection"/> over a real connected Unix domain socket pair: asynchronous
/// reads, a dedicated reader thread that runs the frame loop and the work it leaves, and the watchdog (on a fake clock)
/// that hands reading to a new thread when that work blocks.
/// </summary>
[Collection(ReadablePollTests.Spinners)]
public sealed class StreamDuplexConnectionTests : IDisposable
{
    private const string ReaderThreadName = "Ipc connection reader";

    private readonly FakeTimeProvider _time = new();
    private readonly Socket _peer;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    public StreamDuplexConnectionTests()
    {
        (_peer, _socket) = ConnectedPair();
        _peer.ReceiveTimeout = (int)TestIpc.Bound.TotalMilliseconds;
        _stream = new NetworkStream(_socket, ownsSocket: true);
    }

    public void Dispose()
    {
        _peer.Dispose();
        _stream.Dispose();
    }

    [Fact]
    public async Task RunAsync_AsyncMode_ReadsAndWritesWithoutAReaderThread()
    {
        await using var connection = DuplexConnection.Create(_stream);
        connection.Attach(Host(), dedicatedReader: true); // a plain stream reads asynchronously, granted or not
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([1, 2]);
        await connection.WriteAsync(new byte[] { 7, 8, 9 });

        var received = loop.Take(2);
        Assert.Equal(new byte[] { 1, 2 }, received.Select(r => r.Value));
        Assert.All(received, r => Assert.NotEqual(ReaderThreadName, r.Thread.Name));
        Assert.Equal(new byte[] { 7, 8, 9 }, ReceiveFromConnection(3));
        Assert.False(connection.HasDedicatedReader);
        await StopAsync(connection, run);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_DedicatedReader_RunsTheFrameLoopOnTheReaderThread(bool poll)
    {
        await using var connection = AttachDedicatedReader(poll);
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([1, 2, 3]);
        var received = loop.Take(3);
        await connection.WriteAsync(new byte[] { 9 });

        Assert.True(connection.HasDedicatedReader);
        Assert.Equal(new byte[] { 1, 2, 3 }, received.Select(r => r.Value));
        Assert.All(received, r => Assert.Equal(ReaderThreadName, r.Thread.Name));
        Assert.Equal(new byte[] { 9 }, ReceiveFromConnection(1));
        await StopAsync(connection, run);
    }

    [Fact]
    public async Task RunAsync_NonBlockingStream_SpinsWithItsOwnReadsWithNoProbe()
    {
        var stream = new NonBlockingStream(_stream, _socket);
        await using var connection = DuplexConnection.CreateWithDedicatedReader(stream, isReadable: null, TimeSpan.FromSeconds(1));
        connection.Attach(Host(), dedicatedReader: true);
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);

        // The reader spins only while one of the process's spin slots is free (readers of other tests may hold them) and
        // while it is not backing off (after a spin in which it lost its processor: 1 ms, then twice as long each time up
        // to about a second, which a loaded machine reaches), so bytes go one at a time until one comes through the
        // stream's own read, for as long as the test's bound; without the spin, none ever does. With one processor (a
        // process limited to one, say) the reader never spins, as a spinning reader would only keep the peer from running:
        // every byte then comes through the blocking read.
        var spins = Environment.ProcessorCount > 1;
        var sending = Stopwatch.StartNew();
        for (var i = 0; stream.BytesReadWithoutWaiting == 0 && (spins ? sending.Elapsed < TestIpc.Bound : i < 50); i++)
        {
            _peer.Send([(byte)i]);
            Assert.Equal((byte)i, loop.Take(1)[0].Value);
        }

        if (spins)
        {
            Assert.True(stream.BytesReadWithoutWaiting > 0, "the reader never read with the stream's ReadAvailable");
        }
        else
        {
            Assert.Equal(0, stream.BytesReadWithoutWaiting);
        }

        await StopAsync(connection, run);
    }

    [Fact]
    public async Task RunAsync_DedicatedReaderNotGranted_ReadsAsynchronously()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, isReadable: null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: false);
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([5]);
        var received = loop.Take(1);
        await connection.WriteAsync(new byte[] { 6 });

        Assert.False(connection.HasDedicatedReader);
        Assert.NotEqual(ReaderThreadName, received[0].Thread.Name);
        Assert.Equal(new byte[] { 6 }, ReceiveFromConnection(1));
        await StopAsync(connection, run);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunAsync_PeerCloses_FrameLoopSeesTheEnd(bool dedicated)
    {
        await using var connection = dedicated ? DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero) : DuplexConnection.Create(_stream);
        connection.Attach(Host(), dedicatedReader: dedicated);
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([1]);
        _peer.Shutdown(SocketShutdown.Send);

        await run.WaitAsync(TestIpc.Bound);
        Assert.True(loop.SawEnd);
        Assert.Null(loop.Failure);
        Assert.Equal(1, loop.Take(1)[0].Value);
    }

    /// <summary>
    /// The peer sends more while the frame loop waits (as for a handler, or a full one-way queue), then resets the connection
    /// (it closes with bytes it never read): the dedicated reader takes those bytes and the reset meanwhile, and the loop,
    /// once it reads again, gets every byte the peer sent before it ends with the reset.
    /// </summary>
    [Fact]
    public async Task RunAsync_DedicatedReader_PeerResetsWhileTheLoopWaits_LoopReadsEveryByteThenTheReset()
    {
        await using var connection = AttachDedicatedReader(poll: false);
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = new List<byte>();
        Exception? failure = null;
        var run = connection.RunAsync(async () =>
        {
            var input = connection.Input;
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync();
                    received.AddRange(result.Buffer.ToArray());
                    input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        failure = connection.InputFailure; // as the core's frame loop ends with it
                        return;
                    }

                    if (received.Count == 1)
                    {
                        waiting.SetResult();
                        await resume.Task; // the loop waits, off the reader thread
                    }
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });

        _peer.Send([1]);
        await waiting.Task.WaitAsync(TestIpc.Bound);
        await connection.WriteAsync(new byte[] { 9 }); // the peer never reads it, so its close resets the connection
        _peer.Send([2, 3, 4]);
        _peer.Close();
        await ReaderDoneAsync(connection.Input);
        resume.SetResult();

        await run.WaitAsync(TestIpc.Bound);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, received);
        Assert.True(failure is IOException, $"the loop ended with {failure?.ToString() ?? "no failure"}, not the reset");
    }

    [Fact]
    public async Task TryDefer_OnTheReaderThread_RunsTheWorkThereAfterTheReadsFrames()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        var events = new ConcurrentQueue<string>();
        using var ran = new ManualResetEventSlim();
        Thread? workThread = null;
        var deferred = false;
        var loop = new FrameLoop(connection)
        {
            OnByte = b =>
            {
                events.Enqueue($"frame {b}");
                if (b == 1)
                {
                    deferred = connection.TryDefer(new Work(() =>
                    {
                        events.Enqueue("work");
                        workThread = Thread.CurrentThread;
                        ran.Set();
                    }));
                }
            },
        };
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([1, 2, 3]); // one read: the work runs once the loop has handled all three and waits for more

        Assert.True(ran.Wait(TestIpc.Bound), "the deferred work did not run");
        Assert.True(deferred);
        Assert.Equal(["frame 1", "frame 2", "frame 3", "work"], events);
        Assert.Same(loop.Take(3)[0].Thread, workThread);
        await StopAsync(connection, run);
    }

    [Fact]
    public async Task TryDefer_FromAnotherThread_ReturnsFalse()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        Assert.False(connection.TryDefer(new Work(() => { })), "deferred before the connection was attached");
        connection.Attach(Host(), dedicatedReader: true);
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);
        _peer.Send([1]);
        loop.Take(1);

        Assert.False(connection.TryDefer(new Work(() => throw new InvalidOperationException("must not run"))));

        await StopAsync(connection, run);
    }

    [Fact]
    public async Task TryDefer_AsyncMode_ReturnsFalseOnTheFrameLoop()
    {
        await using var connection = DuplexConnection.Create(_stream);
        connection.Attach(Host(), dedicatedReader: true);
        bool? deferred = null;
        var loop = new FrameLoop(connection) { OnByte = _ => deferred = connection.TryDefer(new Work(() => { })) };
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([1]);
        loop.Take(1);

        Assert.False(deferred);
        await StopAsync(connection, run);
    }

    [Fact]
    public async Task TryDefer_WorkBlocksTheReaderPastTheThresholdTwice_NewReaderReadsTheNextBytes()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        using var held = new HeldWork(connection);
        var loop = new FrameLoop(connection) { OnByte = held.OnByte };
        var run = connection.RunAsync(loop.RunAsync);
        try
        {
            HoldThenReplace(held);
            Assert.True(held.Deferred);
            Assert.Equal(0, held.Returned);
            Assert.Equal(ReaderThreadName, held.SecondThread!.Name);
        }
        finally
        {
            held.Release.Set();
            await StopAsync(connection, run);
        }

        Assert.True(held.BlockedThread!.Join(TestIpc.Bound), "the replaced reader did not leave once its work returned");
        Assert.Equal(1, held.Returned);
    }

    [Fact]
    public async Task RunWorkInPlace_WorkLeftByTheRead_RunsThereBeforeTheLoopWaitsForMore()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        var events = new ConcurrentQueue<string>();
        using var returned = new ManualResetEventSlim();
        var loop = new FrameLoop(connection)
        {
            InPlace = true,
            OnByte = b =>
            {
                events.Enqueue($"frame {b}");
                if (b == 1)
                {
                    Assert.True(connection.TryDefer(new Work(() => events.Enqueue("work"))));
                }
            },
            AfterInPlace = handedOff =>
            {
                events.Enqueue(handedOff ? "handed off" : "loop goes on");
                returned.Set();
            },
        };
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send([1, 2, 3]);

        Assert.True(returned.Wait(TestIpc.Bound), "the loop did not ask for its work to run");
        Assert.Equal(["frame 1", "frame 2", "frame 3", "work", "loop goes on"], events);
        await StopAsync(connection, run);
    }

    [Fact]
    public async Task RunWorkInPlace_WorkBlocksTheReader_ANewReaderAndFrameLoopTakeOverAndTheOldLoopEndsWithThem()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        using var held = new HeldWork(connection);
        using var handedOff = new ManualResetEventSlim();
        var loop = new FrameLoop(connection)
        {
            InPlace = true,
            OnByte = held.OnByte,
            AfterInPlace = off =>
            {
                if (off)
                {
                    handedOff.Set();
                }
            },
        };
        var run = connection.RunAsync(loop.RunAsync);
        try
        {
            // The work holds the first loop itself: the new reader reads byte 2 into a second loop.
            HoldThenReplace(held);
            Assert.Equal(2, loop.Starts);
            Assert.False(handedOff.IsSet);
        }
        finally
        {
            held.Release.Set();
        }

        Assert.True(handedOff.Wait(TestIpc.Bound), "the first loop was not told that another took over");
        Assert.True(held.BlockedThread!.Join(TestIpc.Bound), "the replaced reader did not leave once its work returned");
        Assert.False(run.IsCompleted, "the connection's loop ended with the first loop instead of the one that took over");

        _peer.Send([3]); // the new reader and loop read on
        Assert.Equal(3, loop.Take(3)[2].Value);
        await StopAsync(connection, run);
        Assert.Equal(2, loop.Starts);
    }

    [Fact]
    public async Task CheckReaderWork_ACollectionPausedThePeriod_KeepsTheReaderUntilAPeriodWithout()
    {
        await using var connection = (StreamDuplexConnection)DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        using var blocked = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        using var secondRead = new ManualResetEventSlim();
        var loop = new FrameLoop(connection)
        {
            OnByte = b =>
            {
                if (b == 1)
                {
                    connection.TryDefer(new Work(() =>
                    {
                        blocked.Set();
                        release.Wait(TestIpc.Bound);
                    }));
                }
                else
                {
                    secondRead.Set();
                }
            },
        };
        var run = connection.RunAsync(loop.RunAsync);
        try
        {
            _peer.Send([1]);
            Assert.True(blocked.Wait(TestIpc.Bound), "the deferred work did not start");
            _peer.Send([2]);

            connection.CheckReaderWork(realTime: false, collected: false); // work started since the last check
            connection.CheckReaderWork(realTime: false, collected: true); // the same work, held through a collection
            var keptThroughCollection = !secondRead.IsSet && connection.IsRunningReaderWork;
            connection.CheckReaderWork(realTime: false, collected: false); // held through a whole period of its own

            Assert.True(keptThroughCollection, "the reader was replaced for a period the collector held it");
            Assert.True(secondRead.Wait(TestIpc.Bound), "no new reader took over once the work held the reader by itself");
        }
        finally
        {
            release.Set();
            await StopAsync(connection, run);
        }
    }

    [Fact]
    public async Task TryDefer_ReaderReplaced_WorkLeftBehindTheBlockedOneRunsOnTheThreadPool()
    {
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        using var blocked = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        using var nextRan = new ManualResetEventSlim();
        Thread? blockedThread = null;
        var nextOnThreadPool = false;
        var loop = new FrameLoop(connection)
        {
            OnByte = b =>
            {
                if (b == 1)
                {
                    connection.TryDefer(new Work(() =>
                    {
                        blockedThread = Thread.CurrentThread;
                        blocked.Set();
                        release.Wait(TestIpc.Bound);
                    }));
                }
                else if (b == 2)
                {
                    connection.TryDefer(new Work(() =>
                    {
                        nextOnThreadPool = Thread.CurrentThread.IsThreadPoolThread;
                        nextRan.Set();
                    }));
                }
            },
        };
        var run = connection.RunAsync(loop.RunAsync);
        try
        {
            _peer.Send([1, 2]); // both pieces of work are left in one read; the first blocks the reader
            Assert.True(blocked.Wait(TestIpc.Bound), "the deferred work did not start");

            _time.Advance(ReaderWatchdog.Threshold);
            _time.Advance(ReaderWatchdog.Threshold);

            Assert.True(nextRan.Wait(TestIpc.Bound), "the work behind the blocked one did not run");
            Assert.True(nextOnThreadPool);
            Assert.False(release.IsSet);
        }
        finally
        {
            release.Set();
            await StopAsync(connection, run);
        }

        Assert.True(blockedThread!.Join(TestIpc.Bound), "the replaced reader did not leave once its work returned");
    }

    [Fact]
    public async Task TryDefer_ReaderReplaced16Times_DeclinesFromThenOnAndLogsIt()
    {
        const int Replacements = 16;
        var logger = new CapturingLogger();
        await using var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(logger), dedicatedReader: true);
        using var release = new ManualResetEventSlim();
        using var blocked = new SemaphoreSlim(0);
        using var last = new ManualResetEventSlim();
        var blockedThreads = new ConcurrentQueue<Thread>();
        var deferred = new ConcurrentDictionary<byte, bool>();
        var loop = new FrameLoop(connection)
        {
            OnByte = b =>
            {
                deferred[b] = connection.TryDefer(new Work(() =>
                {
                    blockedThreads.Enqueue(Thread.CurrentThread);
                    blocked.Release();
                    release.Wait(TestIpc.Bound);
                }));
                if (b == Replacements + 1)
                {
                    last.Set();
                }
            },
        };
        var run = connection.RunAsync(loop.RunAsync);
        try
        {
            for (var i = 1; i <= Replacements; i++)
            {
                _peer.Send([(byte)i]); // read by the reader that replaced the previous one
                Assert.True(await blocked.WaitAsync(TestIpc.Bound), $"work {i} did not start");
                _time.Advance(ReaderWatchdog.Threshold);
                _time.Advance(ReaderWatchdog.Threshold);
            }

            _peer.Send([Replacements + 1]);

            Assert.True(last.Wait(TestIpc.Bound), "no reader read on after the last replacement");
            Assert.All(Enumerable.Range(1, Replacements), i => Assert.True(deferred[(byte)i], $"work {i} was not left to the reader"));
            Assert.False(deferred[Replacements + 1]);
            Assert.Contains(logger.Messages, m => m.Contains($"more than {ReaderWatchdog.Threshold} {Replacements} times", StringComparison.Ordinal));
        }
        finally
        {
            release.Set();
            await StopAsync(connection, run);
        }

        Assert.All(blockedThreads, thread => Assert.True(thread.Join(TestIpc.Bound)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Abort_PendingRead_EndsTheFrameLoopAndClosesTheConnection(bool dedicated)
    {
        await using var connection = dedicated ? DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero) : DuplexConnection.Create(_stream);
        connection.Attach(Host(), dedicatedReader: dedicated);
        var loop = new FrameLoop(connection);
        var run = connection.RunAsync(loop.RunAsync);
        _peer.Send([1]);
        loop.Take(1); // the loop has handled the first read and waits for the next

        connection.Abort();
        connection.Abort();

        await run.WaitAsync(TestIpc.Bound);
        Assert.True(loop.SawEnd || loop.Failure is not null);
        Assert.Equal(0, _peer.Receive(new byte[1])); // the peer sees the connection closed
    }

    [Fact]
    public async Task DisposeAsync_ReaderRunningWork_WaitsForTheReaderToLeave()
    {
        var connection = DuplexConnection.CreateWithDedicatedReader(_stream, null, TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        using var running = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var workReturned = 0;
        var loop = new FrameLoop(connection)
        {
            OnByte = _ => connection.TryDefer(new Work(() =>
            {
                running.Set();
                release.Wait(TestIpc.Bound);
                Volatile.Write(ref workReturned, 1);
            })),
        };
        var run = connection.RunAsync(loop.RunAsync);
        try
        {
            _peer.Send([1]);
            Assert.True(running.Wait(TestIpc.Bound), "the deferred work did not start");

            // As the core does: abort, let the frame loop end, then dispose.
            connection.Abort();
            await run.WaitAsync(TestIpc.Bound);
            var dispose = connection.DisposeAsync().AsTask();

            Assert.False(dispose.IsCompleted, "DisposeAsync returned while the reader thread was still running work");
            release.Set();
            await dispose.WaitAsync(TestIpc.Bound);
            Assert.Equal(1, Volatile.Read(ref workReturned));
        }
        finally
        {
            release.Set();
            connection.Abort();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadInto_LargeBodyOnTheReader_FillsTheTargetFromTheStreamThenThePipeGoesOn(bool poll)
    {
        await using var connection = AttachDedicatedReader(poll);
        var body = new byte[200_000];
        new Random(7).NextBytes(body);
        var loop = new BodyLoop(connection, body.Length);
        var run = connection.RunAsync(loop.RunAsync);

        _peer.Send(BitConverter.GetBytes(body.Length));
        _peer.Send(body.AsSpan(0, 1_000));
        Assert.True(loop.Waiting.Wait(TestIpc.Bound), "the frame loop did not start reading the body into its target");
        _peer.Send(body.AsSpan(1_000));
        _peer.Send([0xEE]); // after the body: read into the pipe again

        Assert.True(loop.Trailer.Wait(TestIpc.Bound), "the byte after the body did not reach the frame loop");
        Assert.Null(loop.Failure);
        Assert.Equal(body, loop.Body);
        Assert.True(loop.FromStream > body.Length / 2, $"only {loop.FromStream} of {body.Length} bytes were read into the target");
        Assert.Equal(ReaderThreadName, loop.ResumedOn!.Name);
        Assert.Equal((byte)0xEE, loop.TrailerValue);
        await StopAsync(connection, run);
    }

    [Fact]
    public async Task ReadInto_PeerClosesInTheMiddleOfTheBody_CompletesFalse()
    {
        var (connection, loop, run) = StartReadingABody(100_000);
        await using var _ = connection;
        _peer.Send(new byte[20_000]);
        _peer.Shutdown(SocketShutdown.Send);

        await run.WaitAsync(TestIpc.Bound);
        Assert.False(loop.Completed);
        Assert.Null(loop.Failure);
    }

    [Fact]
    public async Task ReadInto_ConnectionAbortedInTheMiddleOfTheBody_EndsTheFrameLoopsRead()
    {
        var (connection, loop, run) = StartReadingABody(100_000);
        await using var _ = connection;
        connection.Abort(); // as the core does when a frame's FrameTimeout passes

        await run.WaitAsync(TestIpc.Bound);
        Assert.False(loop.Completed); // the disposed socket's read failed, or returned as if the peer had closed
        Assert.True(loop.Failure is not null || loop.ResumedOn is not null, "the frame loop's read neither failed nor returned");
    }

    [Fact]
    public async Task CanReadInto_OffTheReadersHandOff_ReturnsFalse()
    {
        await using var asynchronous = DuplexConnection.Create(_stream);
        asynchronous.Attach(Host(), dedicatedReader: true);
        bool? onAsyncLoop = null;
        var asyncLoop = new FrameLoop(asynchronous) { OnByte = _ => onAsyncLoop = asynchronous.CanReadInto(0, 1) };
        var asyncRun = asynchronous.RunAsync(asyncLoop.RunAsync);
        _peer.Send([1]);
        asyncLoop.Take(1);
        Assert.False(onAsyncLoop, "an asynchronous reader has no reader thread to read into a target");
        await StopAsync(asynchronous, asyncRun);

        var (peer, socket) = ConnectedPair();
        using var _ = peer;
        await using var dedicated = DuplexConnection.CreateWithDedicatedReader(new NetworkStream(socket, ownsSocket: true), null, TimeSpan.Zero);
        dedicated.Attach(Host(), dedicatedReader: true);
        var answers = new ConcurrentQueue<(bool Right, bool Behind)>();
        var loop = new FrameLoop(dedicated) { OnByte = _ => answers.Enqueue((dedicated.CanReadInto(0, 1), dedicated.CanReadInto(0, 0))) };
        var run = dedicated.RunAsync(loop.RunAsync);
        peer.Send([1]);
        loop.Take(1);

        Assert.Equal([(true, false)], answers); // on the reader, only at the position it has read to
        Assert.False(dedicated.CanReadInto(0, 1), "another thread than the reader");
        await StopAsync(dedicated, run);
    }

    [Fact]
    public void Create_NullStream_Throws() => Assert.Throws<ArgumentNullException>(() => DuplexConnection.Create((Stream)null!));

    [Fact]
    public void CreateWithDedicatedReader_NullStream_Throws() =>
        Assert.Throws<ArgumentNullException>(() => DuplexConnection.CreateWithDedicatedReader(null!, null, TimeSpan.Zero));

    /// <summary>A connection over the socket with a dedicated reader, granted; with <paramref name="poll"/>, it polls for 1 ms before it blocks.</summary>
    private DuplexConnection AttachDedicatedReader(bool poll)
    {
        var connection = DuplexConnection.CreateWithDedicatedReader(
            _stream, poll ? () => _socket.Poll(0, SelectMode.SelectRead) : null, poll ? TimeSpan.FromMilliseconds(1) : TimeSpan.Zero);
        connection.Attach(Host(), dedicatedReader: true);
        return connection;
    }

    /// <summary>Starts a dedicated reader whose frame loop reads a body of <paramref name="length"/> bytes into a target, once 500 of them came through the pipe.</summary>
    private (DuplexConnection Connection, BodyLoop Loop, Task Run) StartReadingABody(int length)
    {
        var connection = AttachDedicatedReader(poll: false);
        var loop = new BodyLoop(connection, length);
        var run = connection.RunAsync(loop.RunAsync);
        _peer.Send(BitConverter.GetBytes(length));
        _peer.Send(new byte[500]);
        Assert.True(loop.Waiting.Wait(TestIpc.Bound), "the frame loop did not start reading the body into its target");
        return (connection, loop, run);
    }

    /// <summary>
    /// Waits until the dedicated reader has completed the pipe (the peer's bytes and its end are in), looking with
    /// <see cref="PipeReader.TryRead"/> while the frame loop does not read, and consuming nothing.
    /// </summary>
    private static async Task ReaderDoneAsync(PipeReader input)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (input.TryRead(out var peek))
                {
                    input.AdvanceTo(peek.Buffer.Start);
                    if (peek.IsCompleted)
                    {
                        return;
                    }
                }
            }
            catch (IOException)
            {
                return; // a pipe completed with the failure throws it: the reader is done too
            }

            Assert.True(watch.Elapsed < TestIpc.Bound, "the reader did not take the peer's reset");
            await Task.Delay(5);
        }
    }

    private static async Task StopAsync(DuplexConnection connection, Task run)
    {
        connection.Abort();
        await run.WaitAsync(TestIpc.Bound);
    }

    /// <summary>A connected Unix domain socket pair; the socket file and its folder are gone once it is connected.</summary>
    private static (Socket Peer, Socket Accepted) ConnectedPair()
    {
        var folder = Directory.CreateTempSubdirectory("ipc-streams-");
        try
        {
            var endpoint = new UnixDomainSocketEndPoint(Path.Combine(folder.FullName, "s.sock"));
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(endpoint);
            listener.Listen(1);
            var peer = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                peer.Connect(endpoint);
                return (peer, listener.Accept());
            }
            catch
            {
                peer.Dispose();
                throw;
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private ReaderHost Host(ILogger? logger = null) => new(logger ?? NullLogger.Instance, "test connection", 64 * 1024, _time);

    private byte[] ReceiveFromConnection(int count)
    {
        var buffer = new byte[count];
        var received = 0;
        while (received < count)
        {
            var read = _peer.Receive(buffer.AsSpan(received)); // bounded by the receive timeout
            Assert.NotEqual(0, read);
            received += read;
        }

        return buffer;
    }

    private sealed class CapturingLogger : ILogger
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Enqueue(formatter(state, exception));
    }

    private sealed class Work(Action run) : IReaderWork
    {
        public void Run() => run();
    }

    /// <summary>
    /// A stand-in for the core's frame loop with one large frame: a 4-byte length, that many bytes of body (what has
    /// arrived from the pipe, the rest read straight into the target), then one byte more from the pipe.
    /// </summary>
    private sealed class BodyLoop(DuplexConnection connection, int length)
    {
        public ManualResetEventSlim Waiting { get; } = new();

        public ManualResetEventSlim Trailer { get; } = new();

        public byte[] Body { get; } = new byte[length];

        public int FromPipe { get; private set; }

        public int FromStream { get; private set; }

        public bool Completed { get; private set; }

        public Thread? ResumedOn { get; private set; }

        public byte TrailerValue { get; private set; }

        public Exception? Failure { get; private set; }

        public async Task RunAsync()
        {
            var input = connection.Input;
            long position = 0;
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync().ConfigureAwait(false);
                    var buffer = result.Buffer;
                    if (result.IsCompleted)
                    {
                        return;
                    }

                    if (buffer.Length < 4 + 100 || !connection.CanReadInto(position, buffer.Length))
                    {
                        input.AdvanceTo(buffer.Start, buffer.End); // wait for more
                        continue;
                    }

                    var arrived = buffer.Slice(4);
                    FromPipe = (int)arrived.Length;
                    arrived.CopyTo(Body);
                    var into = connection.ReadInto(Body.AsMemory(FromPipe));
                    Waiting.Set();
                    Completed = await into.ConfigureAwait(false);
                    ResumedOn = Thread.CurrentThread;
                    FromStream = Body.Length - FromPipe;
                    input.AdvanceTo(buffer.End);
                    if (!Completed)
                    {
                        return;
                    }

                    break;
                }

                var trailer = await input.ReadAsync().ConfigureAwait(false);
                TrailerValue = trailer.Buffer.FirstSpan[0];
                input.AdvanceTo(trailer.Buffer.End);
                Trailer.Set();
                await input.ReadAsync().ConfigureAwait(false); // until stopped
            }
            catch (Exception ex)
            {
                Failure = ex; // the stream was disposed under the read
            }
        }
    }

    /// <summary>Sends the byte whose work holds the reader, then the next one, and lets the watchdog's checks replace the reader.</summary>
    private void HoldThenReplace(HeldWork held)
    {
        _peer.Send([1]);
        Assert.True(held.Blocked.Wait(TestIpc.Bound), "the work did not start");
        _peer.Send([2]);

        // The first check sees work started since the last one; the second sees the same work still running.
        _time.Advance(ReaderWatchdog.Threshold);
        _time.Advance(ReaderWatchdog.Threshold);

        Assert.True(held.SecondRead.Wait(TestIpc.Bound), "no new reader took over while the work held the old one");
        Assert.NotSame(held.BlockedThread, held.SecondThread);
    }

    /// <summary>A frame loop's handler whose byte 1 leaves work that holds the reader until released, and which notes who reads byte 2.</summary>
    private sealed class HeldWork(DuplexConnection connection) : IDisposable
    {
        private int _returned;

        public ManualResetEventSlim Blocked { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public ManualResetEventSlim SecondRead { get; } = new();

        public Thread? BlockedThread { get; private set; }

        public Thread? SecondThread { get; private set; }

        public bool Deferred { get; private set; }

        public int Returned => Volatile.Read(ref _returned);

        public void OnByte(byte value)
        {
            if (value == 1)
            {
                Deferred = connection.TryDefer(new Work(() =>
                {
                    BlockedThread = Thread.CurrentThread;
                    Blocked.Set();
                    Release.Wait(TestIpc.Bound);
                    Volatile.Write(ref _returned, 1);
                }));
            }
            else if (value == 2)
            {
                SecondThread = Thread.CurrentThread;
                SecondRead.Set();
            }
        }

        public void Dispose()
        {
            Blocked.Dispose();
            Release.Dispose();
            SecondRead.Dispose();
        }
    }

    /// <summary>The socket's stream, read without waiting when the socket holds bytes (and counting what came that way).</summary>
    private sealed class NonBlockingStream(NetworkStream inner, Socket socket) : Stream, INonBlockingStream
    {
        private int _bytesReadWithoutWaiting;

        public int BytesReadWithoutWaiting => Volatile.Read(ref _bytesReadWithoutWaiting);

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public int ReadAvailable(Span<byte> buffer)
        {
            try
            {
                if (socket.Available == 0)
                {
                    return socket.Poll(0, SelectMode.SelectRead) ? INonBlockingStream.ReadNow : INonBlockingStream.NothingYet; // readable with nothing in it: the end
                }

                var read = inner.Read(buffer);
                Interlocked.Add(ref _bytesReadWithoutWaiting, read);
                return read;
            }
            catch (ObjectDisposedException)
            {
                return INonBlockingStream.ReadNow;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

        public override void Flush() => inner.Flush();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A stand-in for the core's frame loop: reads <see cref="DuplexConnection.Input"/>, one "frame" a byte.</summary>
    private sealed class FrameLoop(DuplexConnection connection)
    {
        private readonly BlockingCollection<(byte Value, Thread Thread)> _received = [];

        public Action<byte>? OnByte { get; init; }

        /// <summary>Gets a value indicating whether the loop runs the work it left in place once a read is handled, as the core's does.</summary>
        public bool InPlace { get; init; }

        /// <summary>Called after the loop asked the connection to run its work in place, with whether a new loop took over.</summary>
        public Action<bool>? AfterInPlace { get; init; }

        /// <summary>Gets how many times the loop was started: a second time by a reader that took over from one held in place.</summary>
        public int Starts => Volatile.Read(ref _starts);

        private int _starts;

        public bool SawEnd { get; private set; }

        public Exception? Failure { get; private set; }

        public List<(byte Value, Thread Thread)> Take(int count)
        {
            var taken = new List<(byte, Thread)>();
            for (var i = 0; i < count; i++)
            {
                Assert.True(_received.TryTake(out var item, TestIpc.Bound), $"the frame loop received {i} bytes, not {count}");
                taken.Add(item);
            }

            return taken;
        }

        public async Task RunAsync()
        {
            Interlocked.Increment(ref _starts);
            var input = connection.Input;
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync().ConfigureAwait(false);
                    foreach (var value in result.Buffer.ToArray())
                    {
                        OnByte?.Invoke(value);
                        _received.Add((value, Thread.CurrentThread));
                    }

                    input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        SawEnd = true;
                        return;
                    }

                    if (InPlace)
                    {
                        var successor = connection.RunWorkInPlace();
                        AfterInPlace?.Invoke(successor is not null);
                        if (successor is not null)
                        {
                            await successor.ConfigureAwait(false);
                            return;
                        }
                    }
                }
            }
            catch (Exception ex)
            {
                Failure = ex; // the stream was disposed or reset under a read
            }
        }
    }
}
