using System.Buffers;
using System.Runtime.InteropServices;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

public sealed class FrameBufferTests
{
    [Fact]
    public void Append_WriterWrites_BytesAreWritten()
    {
        var buffer = new FrameBuffer();

        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 1, 2, 3 });

        Assert.Equal(3, buffer.WrittenCount);
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer.WrittenSpan.ToArray());
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer.WrittenMemory.ToArray());
    }

    [Fact]
    public void Append_TwoFrames_AreWrittenInOrder()
    {
        var buffer = new FrameBuffer();

        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 1, 2 });
        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 3 });

        Assert.Equal(new byte[] { 1, 2, 3 }, buffer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Append_WriterThrowsHalfway_RollsBackItsBytesAndRethrows()
    {
        var buffer = new FrameBuffer();
        buffer.Append(static (writer, bytes) => writer.Write(bytes), "abc"u8.ToArray());

        var error = Assert.Throws<InvalidOperationException>(() => buffer.Append(static (writer, _) =>
        {
            writer.Write("def"u8);
            throw new InvalidOperationException("serializer failed");
        }, 0));

        Assert.Equal("serializer failed", error.Message);
        Assert.Equal(3, buffer.WrittenCount);
        Assert.Equal("abc"u8.ToArray(), buffer.WrittenSpan.ToArray());

        buffer.Append(static (writer, bytes) => writer.Write(bytes), "ghi"u8.ToArray());
        Assert.Equal("abcghi"u8.ToArray(), buffer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Append_WriterThrowsAfterGrowingTheBuffer_RollsBackAndKeepsEarlierFrames()
    {
        var buffer = new FrameBuffer();
        var first = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        buffer.Append(static (writer, bytes) => writer.Write(bytes), first);

        Assert.Throws<InvalidOperationException>(() => buffer.Append(static (writer, _) =>
        {
            writer.Write(new byte[100_000]);
            throw new InvalidOperationException();
        }, 0));

        Assert.Equal(first, buffer.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void GetSpan_SizeHintZeroOrOne_ReturnsAtLeastOneByte(int sizeHint)
    {
        var buffer = new FrameBuffer();

        Assert.True(buffer.GetSpan(sizeHint).Length >= 1);
        Assert.True(buffer.GetMemory(sizeHint).Length >= 1);
    }

    [Theory]
    [InlineData(16 * 1024 + 1)]
    [InlineData(100_000)]
    [InlineData(5 * 1024 * 1024)]
    public void GetSpan_MoreThanTheBufferHolds_GrowsAndKeepsWhatWasWritten(int sizeHint)
    {
        var buffer = new FrameBuffer();
        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 7, 8, 9 });

        var span = buffer.GetSpan(sizeHint);
        Assert.True(span.Length >= sizeHint);
        span[..sizeHint].Fill(0xAB);
        buffer.Advance(sizeHint);

        Assert.Equal(3 + sizeHint, buffer.WrittenCount);
        Assert.Equal(new byte[] { 7, 8, 9 }, buffer.WrittenSpan[..3].ToArray());
        Assert.Equal(0xAB, buffer.WrittenSpan[^1]);
    }

    [Fact]
    public void GetMemory_MoreThanTheBufferHolds_Grows()
    {
        var buffer = new FrameBuffer();
        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 1 });

        var memory = buffer.GetMemory(64 * 1024);
        memory.Span[0] = 2;
        buffer.Advance(1);

        Assert.True(memory.Length >= 64 * 1024);
        Assert.Equal(new byte[] { 1, 2 }, buffer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Reset_AfterFrames_EmptiesTheBuffer()
    {
        var buffer = new FrameBuffer();
        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 1, 2, 3 });

        buffer.Reset();

        Assert.Equal(0, buffer.WrittenCount);
        Assert.True(buffer.WrittenSpan.IsEmpty);
    }

    [Fact]
    public void Reset_BufferGrownToOneMiB_KeepsIt()
    {
        var buffer = new FrameBuffer();
        buffer.Advance(buffer.GetSpan(1024 * 1024).Length);
        var grown = ArrayOf(buffer);

        buffer.Reset();

        Assert.Same(grown, ArrayOf(buffer));
    }

    [Fact]
    public void Reset_BufferGrownPastTwoMiB_LetsItGo()
    {
        var buffer = new FrameBuffer();
        buffer.Advance(buffer.GetSpan(3 * 1024 * 1024).Length);
        var grown = ArrayOf(buffer);
        Assert.True(grown.Length > 2 * 1024 * 1024);

        buffer.Reset();

        var after = ArrayOf(buffer);
        Assert.NotSame(grown, after);
        Assert.True(after.Length <= 2 * 1024 * 1024, $"the buffer after Reset holds {after.Length} bytes");
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Fact]
    public void Advance_PastTheEnd_ThrowsAndWritesNothing()
    {
        var buffer = new FrameBuffer();
        var available = buffer.GetSpan().Length;

        Assert.Throws<InvalidOperationException>(() => buffer.Advance(available + 1));

        Assert.Equal(0, buffer.WrittenCount);
        buffer.Advance(available);
        Assert.Equal(available, buffer.WrittenCount);
    }

    [Fact]
    public void Advance_SoFarPastTheEndThatTheCountOverflows_Throws()
    {
        var buffer = new FrameBuffer();
        buffer.Append(static (writer, bytes) => writer.Write(bytes), new byte[] { 1 });

        Assert.Throws<InvalidOperationException>(() => buffer.Advance(int.MaxValue));

        Assert.Equal(new byte[] { 1 }, buffer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Advance_Negative_Throws()
    {
        var buffer = new FrameBuffer();

        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Advance(-1));

        Assert.Equal(0, buffer.WrittenCount);
    }

    /// <summary>The array behind the buffer's free space.</summary>
    private static byte[] ArrayOf(FrameBuffer buffer)
    {
        Assert.True(MemoryMarshal.TryGetArray<byte>(buffer.GetMemory(), out var segment));
        return segment.Array!;
    }
}
