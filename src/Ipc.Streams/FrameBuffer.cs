using System.Buffers;

namespace Ipc.Transports.Streams;

/// <summary>
/// A growable buffer of whole frames. A frame whose writer throws half-way is taken back out, so a failed frame never
/// reaches the stream in pieces. It allocates nothing until the first frame and starts small, growing to what the
/// connection writes at once, so an idle connection holds little.
/// </summary>
internal sealed class FrameBuffer : IBufferWriter<byte>
{
    private const int InitialSize = 512;
    private const int KeepSize = 2 * 1024 * 1024; // a full batch (1 MiB waiting) plus a large frame

    private byte[] _buffer = [];
    private int _count;

    public int WrittenCount => _count;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _count);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _count);

    public void Append<TState>(Action<IBufferWriter<byte>, TState> write, TState state)
    {
        var start = _count;
        try
        {
            write(this, state);
        }
        catch
        {
            _count = start;
            throw;
        }
    }

    /// <summary>Gets how many bytes the buffer holds on to, written or not.</summary>
    public int Capacity => _buffer.Length;

    /// <summary>Empties the buffer, and lets a buffer grown past 2 MiB by a large frame go.</summary>
    public void Reset()
    {
        _count = 0;
        if (_buffer.Length > KeepSize)
        {
            _buffer = [];
        }
    }

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _buffer.Length - _count)
        {
            throw new InvalidOperationException("Advanced past the end of the buffer.");
        }

        _count += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_count);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_count);
    }

    private void Reserve(int sizeHint)
    {
        var needed = (long)_count + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length)
        {
            return;
        }

        var size = (int)Math.Min(Array.MaxLength, Math.Max(Math.Max(needed, InitialSize), (long)_buffer.Length * 2));
        Array.Resize(ref _buffer, size);
    }
}
