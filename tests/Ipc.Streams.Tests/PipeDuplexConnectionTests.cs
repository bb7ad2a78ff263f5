using System.Buffers;
using System.IO.Pipelines;
using Ipc.TestUtils;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

public sealed class PipeDuplexConnectionTests
{
    private readonly Pipe _toPeer = new(new PipeOptions(pauseWriterThreshold: 64, resumeWriterThreshold: 32, useSynchronizationContext: false));
    private readonly Pipe _fromPeer = new(new PipeOptions(useSynchronizationContext: false));
    private int _aborts;

    [Fact]
    public async Task WriteAsync_Frames_PeerReadsThem()
    {
        await using var connection = Create();

        await connection.WriteAsync(new byte[] { 1, 2, 3 });

        var result = await _toPeer.Reader.ReadAsync().AsTask().WaitAsync(TestIpc.Bound);
        Assert.Equal(new byte[] { 1, 2, 3 }, result.Buffer.ToArray());
    }

    [Fact]
    public async Task Input_PeerWrites_ReadsTheBytes()
    {
        await using var connection = Create();

        await _fromPeer.Writer.WriteAsync(new byte[] { 4, 5 });

        var result = await connection.Input.ReadAsync().AsTask().WaitAsync(TestIpc.Bound);
        Assert.Equal(new byte[] { 4, 5 }, result.Buffer.ToArray());
    }

    [Fact]
    public async Task Abort_DuringPendingRead_ReturnsTheRead()
    {
        await using var connection = Create();
        var read = connection.Input.ReadAsync();
        Assert.False(read.IsCompleted);

        connection.Abort();

        var result = await read.AsTask().WaitAsync(TestIpc.Bound);
        Assert.True(result.IsCanceled || result.IsCompleted);
    }

    [Fact]
    public async Task Abort_CompletesTheOutput_PeerReadsTheEnd()
    {
        await using var connection = Create();
        await connection.WriteAsync(new byte[] { 1 });

        connection.Abort();

        var result = await _toPeer.Reader.ReadAsync().AsTask().WaitAsync(TestIpc.Bound);
        Assert.Equal(new byte[] { 1 }, result.Buffer.ToArray());
        Assert.True(result.IsCompleted);
    }

    [Fact]
    public async Task Abort_DuringWriteBlockedOnAFullPeer_FailsTheWriteThenCompletesTheOutput()
    {
        await using var connection = Create();
        var write = connection.WriteAsync(new byte[100]).AsTask(); // past the pause threshold: waits for the peer to read
        Assert.False(write.IsCompleted);

        connection.Abort();

        await Assert.ThrowsAsync<IOException>(() => write.WaitAsync(TestIpc.Bound));
        var result = await _toPeer.Reader.ReadAsync().AsTask().WaitAsync(TestIpc.Bound);
        Assert.Equal(100, result.Buffer.Length);
        Assert.True(result.IsCompleted);
    }

    [Fact]
    public async Task WriteAsync_AfterAbort_ThrowsIOException()
    {
        await using var connection = Create();
        connection.Abort();

        await Assert.ThrowsAsync<IOException>(() => connection.WriteAsync(new byte[] { 1 }).AsTask());
    }

    [Fact]
    public async Task WriteAsync_PeerStoppedReading_ThrowsIOException()
    {
        await using var connection = Create();
        await _toPeer.Reader.CompleteAsync();

        await Assert.ThrowsAsync<IOException>(() => connection.WriteAsync(new byte[] { 1 }).AsTask());
    }

    [Fact]
    public async Task Abort_CalledTwiceThenDisposed_RunsTheCallbackOnce()
    {
        var connection = Create();

        connection.Abort();
        connection.Abort();
        await connection.DisposeAsync();
        await connection.DisposeAsync();

        Assert.Equal(1, _aborts);
    }

    [Fact]
    public async Task DisposeAsync_WithoutAbort_AbortsAndCompletesBothEnds()
    {
        var connection = Create();

        await connection.DisposeAsync();

        Assert.Equal(1, _aborts);
        var flush = await _fromPeer.Writer.WriteAsync(new byte[] { 1 });
        Assert.True(flush.IsCompleted, "the input was not completed: the peer can still write into it");
        var read = await _toPeer.Reader.ReadAsync().AsTask().WaitAsync(TestIpc.Bound);
        Assert.True(read.IsCompleted, "the output was not completed: the peer does not see the end");
    }

    [Fact]
    public void Create_NullPipe_Throws() => Assert.Throws<ArgumentNullException>(() => DuplexConnection.Create((IDuplexPipe)null!));

    [Fact]
    public async Task HasDedicatedReader_PipeConnection_IsFalseAndTryDeferDeclines()
    {
        await using var connection = Create();

        Assert.False(connection.HasDedicatedReader);
        Assert.False(connection.TryDefer(new NoWork()));
    }

    private DuplexConnection Create() => DuplexConnection.Create(new DuplexPipe(_fromPeer.Reader, _toPeer.Writer), () => Interlocked.Increment(ref _aborts));

    private sealed record DuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    private sealed class NoWork : IReaderWork
    {
        public void Run() => throw new InvalidOperationException("must not run");
    }
}
