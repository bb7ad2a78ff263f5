using System.IO.Pipelines;

namespace Ipc.Transports.Streams;

/// <summary>A <see cref="DuplexConnection"/> over an <see cref="IDuplexPipe"/>: reads its input, writes to its output.</summary>
/// <remarks>A <see cref="PipeWriter"/> is not safe to complete while it writes, so an abort during a write completes the
/// output once that write returns.</remarks>
internal sealed class PipeDuplexConnection(IDuplexPipe transport, Action? abort) : DuplexConnection
{
    private readonly object _gate = new();
    private bool _writing;
    private bool _aborted;
    private bool _outputCompleted;
    private int _disposed;

    public override PipeReader Input => transport.Input;

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> frames)
    {
        lock (_gate)
        {
            if (_aborted)
            {
                throw new IOException("The connection was closed.");
            }

            _writing = true;
        }

        FlushResult result;
        try
        {
            result = await transport.Output.WriteAsync(frames).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _writing = false;
                if (_aborted)
                {
                    CompleteOutput();
                }
            }
        }

        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("The connection was closed.");
        }
    }

    public override void Abort()
    {
        lock (_gate)
        {
            if (_aborted)
            {
                return;
            }

            _aborted = true;
            if (_writing)
            {
                transport.Output.CancelPendingFlush(); // the write returns, then completes the output
            }
            else
            {
                CompleteOutput();
            }
        }

        transport.Input.CancelPendingRead();
        abort?.Invoke();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Abort();
        await transport.Input.CompleteAsync().ConfigureAwait(false);
    }

    private void CompleteOutput()
    {
        if (!_outputCompleted)
        {
            _outputCompleted = true;
            transport.Output.Complete(); // the peer reads the end of the connection
        }
    }
}
