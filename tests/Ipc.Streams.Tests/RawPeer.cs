using System.Buffers;
using System.Buffers.Binary;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

/// <summary>A client written by hand over a <see cref="DuplexConnection"/>: sends what a test builds, reads frames one by one.</summary>
internal sealed class RawPeer(DuplexConnection connection) : IAsyncDisposable
{
    private bool _prefaceRead;

    public DuplexConnection Connection => connection;

    public static byte[] Preface => WireFormat.Preface.ToArray();

    public ValueTask SendAsync(ReadOnlyMemory<byte> bytes) => connection.WriteAsync(bytes);

    /// <summary>A Request frame for <paramref name="route"/> with a body, as call <paramref name="callId"/>.</summary>
    public static byte[] Request(uint callId, string route, ReadOnlyMemory<byte> body, FrameType type = FrameType.Request)
    {
        var writer = new ArrayBufferWriter<byte>();
        WireFormat.WriteMessage(writer, type, callId, new IpcMessage(route, body) { MessageId = "m" + callId });
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>A OneWay frame for <paramref name="route"/> with a body, as message <paramref name="messageId"/>.</summary>
    public static byte[] OneWay(string messageId, string route, ReadOnlyMemory<byte> body)
    {
        var writer = new ArrayBufferWriter<byte>();
        WireFormat.WriteMessage(writer, FrameType.OneWay, 0, new IpcMessage(route, body) { MessageId = messageId });
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the next frame; <see langword="null"/> once the server closed the connection.</summary>
    public async Task<(FrameType Type, uint CallId, byte[] Body)?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await connection.Input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length >= WireFormat.HeaderSize)
            {
                var header = new byte[WireFormat.HeaderSize];
                buffer.Slice(0, WireFormat.HeaderSize).CopyTo(header);
                var metadata = (int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
                var bodyLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
                var length = WireFormat.HeaderSize + metadata + bodyLength;
                if (buffer.Length >= length)
                {
                    var body = buffer.Slice(WireFormat.HeaderSize + metadata, bodyLength).ToArray();
                    connection.Input.AdvanceTo(buffer.GetPosition(length));
                    return ((FrameType)header[0], BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)), body);
                }
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                connection.Input.AdvanceTo(buffer.End);
                return null;
            }

            connection.Input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Reads the server's preface and Settings frame.</summary>
    public async Task<(int MaxConcurrentCalls, int OneWayWindow)> ReadOpeningAsync(CancellationToken cancellationToken)
    {
        await ReadPrefaceAsync(cancellationToken);
        var settings = await ReadFrameAsync(cancellationToken) ?? throw new InvalidOperationException("the server closed before its Settings");
        Assert.Equal(FrameType.Settings, settings.Type);
        return WireFormat.ReadSettings(settings.Body);
    }

    /// <summary>
    /// Reads what the server sends until its GoAway (or its close), then closes this side, as a client does: a stopping
    /// server then waits for nothing more. Whatever state a test left the connection in, it ends closed.
    /// </summary>
    public async Task CloseAfterGoAwayAsync(TimeSpan bound)
    {
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            if (!_prefaceRead)
            {
                await ReadPrefaceAsync(timeout.Token);
            }

            while (await ReadFrameAsync(timeout.Token) is { } frame && frame.Type != FrameType.GoAway)
            {
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or IOException or ObjectDisposedException)
        {
            // Closed by the test, or broken on purpose: nothing more to read.
        }

        await DisposeAsync();
    }

    /// <summary>Reads the peer's preface, the first bytes either side sends.</summary>
    public async Task ReadPrefaceAsync(CancellationToken cancellationToken)
    {
        _prefaceRead = true;
        while (true)
        {
            var result = await connection.Input.ReadAsync(cancellationToken);
            if (result.Buffer.Length >= WireFormat.PrefaceSize || result.IsCompleted)
            {
                connection.Input.AdvanceTo(result.Buffer.GetPosition(Math.Min(WireFormat.PrefaceSize, result.Buffer.Length)));
                return;
            }

            connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}
