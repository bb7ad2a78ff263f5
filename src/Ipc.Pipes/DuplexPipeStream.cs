namespace Ipc.Pipes;

/// <summary>
/// Joins a read-only and a write-only pipe into one stream, and runs a callback once when disposed. Every disposal, the
/// first or a later one, synchronous or not, closes the pipes at once; an asynchronous one also waits for the callback.
/// </summary>
internal sealed class DuplexPipeStream(Stream input, Stream output, Func<ValueTask> onDisposed) : Stream
{
    private Task? _closed;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => input.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => output.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Flush() => output.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        // A synchronous Dispose (the connection core aborts a stream that way) may have come first: wait for its callback.
        await CloseOnce().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _ = CloseOnce(); // DisposeAsync, or whoever owns the callback's work, waits for it
        }

        base.Dispose(disposing);
    }

    /// <summary>Closes both pipes and starts the callback, once; returns its completion to every caller.</summary>
    private Task CloseOnce()
    {
        var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _closed, closing.Task, null) is { } closed)
        {
            return closed;
        }

        _ = CloseAsync(closing);
        return closing.Task;
    }

    private async Task CloseAsync(TaskCompletionSource closing)
    {
        try
        {
            output.Dispose();
            input.Dispose();
            await onDisposed().ConfigureAwait(false);
            closing.TrySetResult();
        }
        catch (Exception ex)
        {
            closing.TrySetException(ex);
        }
    }
}
