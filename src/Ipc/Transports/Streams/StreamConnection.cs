using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;

namespace Ipc.Transports.Streams;

/// <summary>
/// One framed connection over a byte stream, either side. Reads frames in one loop and hands each to
/// <see cref="OnFrameAsync"/>; writes frames from any thread, coalescing frames written close together into one write.
/// </summary>
/// <remarks>
/// Limits are checked on the fixed header, before anything is buffered for a frame: metadata over
/// <see cref="StreamTransportOptions.MaxHeaderSize"/> closes the connection; a message body over the endpoint's
/// <c>MaxMessageSize</c> is discarded as it streams past and reported to <see cref="OnOversizeAsync"/>, so the
/// connection stays usable.
/// </remarks>
internal abstract partial class StreamConnection
{
    /// <summary>Unflushed bytes past which a writer flushes at once instead of leaving it to a deferred flush.</summary>
    private const int FlushThreshold = 64 * 1024;

    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _closed = new();
    private readonly int _maxBody;
    private readonly int _maxMetadata;
    private int _writers;
    private int _flushScheduled;
    private int _closing;
    private Exception? _closeReason;

    protected StreamConnection(Stream stream, int maxBody, int maxMetadata, ILogger logger, string description)
    {
        _stream = stream;
        _maxBody = maxBody;
        _maxMetadata = maxMetadata;
        Logger = logger;
        Description = description;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 16 * 1024, leaveOpen: true));
    }

    /// <summary>Gets what the connection is, for log messages (endpoint, address, side).</summary>
    public string Description { get; }

    /// <summary>Gets a token cancelled once the connection is closing.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Gets a value indicating whether the connection was closed.</summary>
    public bool IsClosed => Volatile.Read(ref _closing) != 0;

    protected ILogger Logger { get; }

    /// <summary>Writes the preface and flushes it.</summary>
    public ValueTask SendPrefaceAsync() => SendAsync(static (writer, _) => writer.Write(WireFormat.Preface), 0, urgent: true);

    /// <summary>Writes one frame. <paramref name="urgent"/> frames are flushed at once unless another writer is queued behind them.</summary>
    public async ValueTask SendAsync<TState>(Action<IBufferWriter<byte>, TState> write, TState state, bool urgent)
    {
        Interlocked.Increment(ref _writers);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (IsClosed)
            {
                Interlocked.Decrement(ref _writers);
                throw ConnectionLost();
            }

            write(_output, state);
            var behind = Interlocked.Decrement(ref _writers);
            if (_output.UnflushedBytes >= FlushThreshold || (urgent && behind == 0))
            {
                await FlushCoreAsync().ConfigureAwait(false);
            }
            else if (behind == 0)
            {
                ScheduleFlush();
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Runs the read loop until the peer closes, the format is broken or <see cref="Close"/> is called.</summary>
    public async Task RunAsync()
    {
        Exception? reason = null;
        try
        {
            await ReadLoopAsync().ConfigureAwait(false);
        }
        catch (WireFormatException ex)
        {
            reason = ex;
            LogProtocolError(Logger, Description, ex.Message);
            await OnProtocolErrorAsync(ex).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException
            or System.Security.Authentication.AuthenticationException)
        {
            reason = ex;
        }
        catch (Exception ex)
        {
            reason = ex;
            LogFailed(Logger, Description, ex);
        }
        finally
        {
            Close(reason);
            await _input.CompleteAsync().ConfigureAwait(false);
            await _writeLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await _output.CompleteAsync().ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }

            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes the connection (once): pending reads and writes fail, <see cref="OnClosed"/> runs.</summary>
    public void Close(Exception? reason = null)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        _closeReason = reason;
        try
        {
            _closed.Cancel();
        }
        catch (AggregateException)
        {
            // A callback registered on Closed failed; the connection closes regardless.
        }

        _input.CancelPendingRead();
        try
        {
            _stream.Dispose(); // fails a write blocked on a full socket buffer
        }
        catch (IOException)
        {
        }

        OnClosed(reason);
    }

    /// <summary>Called once when the connection closes, with the reason when it was not an orderly close.</summary>
    protected abstract void OnClosed(Exception? reason);

    /// <summary>Handles one complete frame. <paramref name="metadata"/> and <paramref name="body"/> are valid only until it returns.</summary>
    protected abstract ValueTask OnFrameAsync(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body);

    /// <summary>Handles a message frame whose body is over the limit; the body is discarded after it returns.</summary>
    protected abstract ValueTask OnOversizeAsync(FrameHeader header, IpcMessage message, int maxBody);

    /// <summary>Called after a format violation was logged, before the connection closes.</summary>
    protected virtual ValueTask OnProtocolErrorAsync(WireFormatException error) => default;

    /// <summary>Called when the peer's preface has been read and checked.</summary>
    protected virtual void OnPrefaceReceived()
    {
    }

    /// <summary>The error pending and new calls get once the connection is gone.</summary>
    protected virtual IpcException ConnectionLost() =>
        new(IpcErrorCode.Unavailable, $"The connection ({Description}) was lost{(_closeReason is null ? string.Empty : ": " + _closeReason.Message)}.", _closeReason);

    protected static IpcMessage ReadMessage(FrameHeader header, ReadOnlySequence<byte> metadata, ReadOnlySequence<byte> body)
    {
        var message = WithSpan(metadata, header.Flags, static (span, flags) => WireFormat.ReadMetadata(span, flags));
        if ((header.Flags & FrameFlags.Fault) != 0)
        {
            message.Fault = WithSpan(body, 0, static (span, _) => WireFormat.DecodeFault(span));
        }
        else
        {
            message.Body = body.IsEmpty ? ReadOnlyMemory<byte>.Empty : body.ToArray();
        }

        return message;
    }

    protected static TResult WithSpan<TState, TResult>(ReadOnlySequence<byte> sequence, TState state, ReadOnlySpanFunc<TState, TResult> read)
    {
        if (sequence.IsSingleSegment)
        {
            return read(sequence.FirstSpan, state);
        }

        var length = checked((int)sequence.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            sequence.CopyTo(rented);
            return read(rented.AsSpan(0, length), state);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private async Task ReadLoopAsync()
    {
        var prefaceSeen = false;
        long skip = 0;
        while (true)
        {
            var result = await _input.ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled || IsClosed)
            {
                return;
            }

            var buffer = result.Buffer;
            try
            {
                while (true)
                {
                    if (skip > 0)
                    {
                        var discard = Math.Min(skip, buffer.Length);
                        buffer = buffer.Slice(discard);
                        skip -= discard;
                        if (skip > 0)
                        {
                            break;
                        }
                    }

                    if (!prefaceSeen)
                    {
                        if (buffer.Length < WireFormat.PrefaceSize)
                        {
                            break;
                        }

                        WithSpan(buffer.Slice(0, WireFormat.PrefaceSize), 0, static (span, _) =>
                        {
                            WireFormat.ValidatePreface(span);
                            return 0;
                        });
                        buffer = buffer.Slice(WireFormat.PrefaceSize);
                        prefaceSeen = true;
                        OnPrefaceReceived();
                        continue;
                    }

                    if (buffer.Length < WireFormat.HeaderSize)
                    {
                        break;
                    }

                    var header = WithSpan(buffer.Slice(0, WireFormat.HeaderSize), 0, static (span, _) => WireFormat.ReadHeader(span));
                    CheckLimits(header);
                    if (header.CarriesMessage && header.BodyLength > _maxBody)
                    {
                        var prefix = WireFormat.HeaderSize + header.MetadataLength;
                        if (buffer.Length < prefix)
                        {
                            break;
                        }

                        var message = WithSpan(buffer.Slice(WireFormat.HeaderSize, header.MetadataLength), header.Flags, static (span, flags) => WireFormat.ReadMetadata(span, flags));
                        buffer = buffer.Slice(prefix);
                        skip = header.BodyLength;
                        await OnOversizeAsync(header, message, _maxBody).ConfigureAwait(false);
                        continue;
                    }

                    if (buffer.Length < header.FrameLength)
                    {
                        break;
                    }

                    var metadata = buffer.Slice(WireFormat.HeaderSize, header.MetadataLength);
                    var body = buffer.Slice(WireFormat.HeaderSize + header.MetadataLength, header.BodyLength);
                    await OnFrameAsync(header, metadata, body).ConfigureAwait(false);
                    buffer = buffer.Slice(header.FrameLength);
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty || skip > 0)
                    {
                        throw new WireFormatException($"the peer closed the connection in the middle of a frame ({buffer.Length} bytes of it received)");
                    }

                    return;
                }
            }
            finally
            {
                if (!IsClosed)
                {
                    _input.AdvanceTo(buffer.Start, result.Buffer.End);
                }
            }
        }
    }

    private void CheckLimits(FrameHeader header)
    {
        if (header.MetadataLength > _maxMetadata)
        {
            throw new WireFormatException($"a {header.Type} frame declares {header.MetadataLength} bytes of route, ids and headers, over the {_maxMetadata}-byte MaxHeaderSize");
        }

        if (!header.CarriesMessage && header.BodyLength > _maxMetadata)
        {
            throw new WireFormatException($"a {header.Type} frame declares a {header.BodyLength}-byte body, over the {_maxMetadata}-byte MaxHeaderSize for control frames");
        }
    }

    private void ScheduleFlush()
    {
        if (Interlocked.Exchange(ref _flushScheduled, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.DeferredFlushAsync(), this, preferLocal: false);
        }
    }

    private async Task DeferredFlushAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _flushScheduled, 0);
            if (!IsClosed && _output.UnflushedBytes > 0)
            {
                await FlushCoreAsync().ConfigureAwait(false);
            }
        }
        catch (IpcException)
        {
            // The connection closed; OnClosed failed whoever was waiting on it.
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async ValueTask FlushCoreAsync()
    {
        try
        {
            await _output.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException
            or System.Security.Authentication.AuthenticationException)
        {
            Close(ex);
            throw ConnectionLost();
        }
    }

    [LoggerMessage(104, LogLevel.Error, "Closing connection {Connection}: it failed unexpectedly.")]
    private static partial void LogFailed(ILogger logger, string connection, Exception exception);

    [LoggerMessage(100, LogLevel.Warning, "Closing connection {Connection}: the peer broke the wire format: {Reason}.")]
    private static partial void LogProtocolError(ILogger logger, string connection, string reason);
}

/// <summary>Reads a span with some state.</summary>
internal delegate TResult ReadOnlySpanFunc<in TState, out TResult>(ReadOnlySpan<byte> span, TState state);
