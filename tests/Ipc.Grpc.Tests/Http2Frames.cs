using System.Buffers.Binary;

namespace Ipc.Grpc.Tests;

/// <summary>Raw HTTP/2 (RFC 9113) for tests that look at the frames on a connection.</summary>
internal static class Http2Frames
{
    /// <summary>The type of a SETTINGS frame.</summary>
    public const byte Settings = 4;

    /// <summary>The type of a PING frame.</summary>
    public const byte Ping = 6;

    /// <summary>The type of a GOAWAY frame.</summary>
    public const byte GoAway = 7;

    /// <summary>Gets the connection preface a client sends first, before its SETTINGS frame.</summary>
    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>
    /// Opens an HTTP/2 connection on <paramref name="stream"/> as a client that asks nothing (the preface and an empty
    /// SETTINGS frame), and returns the payload of the SETTINGS frame the server answers with first.
    /// </summary>
    public static async Task<byte[]> HandshakeAsync(Stream stream)
    {
        await stream.WriteAsync((byte[])[.. Preface, 0, 0, 0, Settings, 0, 0, 0, 0, 0]);
        var frame = await ReadAsync(stream);
        Assert.Equal(Settings, frame.Type);
        return frame.Payload;
    }

    /// <summary>Reads one frame: 9 bytes of header (3 of length, 1 of type, 1 of flags, 4 of stream id), then its payload.</summary>
    public static async Task<Http2Frame> ReadAsync(Stream stream)
    {
        var header = new byte[9];
        await stream.ReadExactlyAsync(header);
        var payload = new byte[(header[0] << 16) | (header[1] << 8) | header[2]];
        await stream.ReadExactlyAsync(payload);
        return new Http2Frame(header, payload);
    }
}

/// <summary>One HTTP/2 frame as it was read: its header and its payload.</summary>
internal sealed class Http2Frame(byte[] header, byte[] payload)
{
    /// <summary>Gets the frame's 9 bytes of header.</summary>
    public byte[] Header { get; } = header;

    /// <summary>Gets the frame's payload.</summary>
    public byte[] Payload { get; } = payload;

    /// <summary>Gets the frame's type.</summary>
    public byte Type => Header[3];

    /// <summary>
    /// Gets a value indicating whether this is a keep-alive PING: a PING that is not the ACK of one (flag 0x1), with a
    /// payload that is not negative. SocketsHttpHandler's other PINGs, which measure the round trip for its flow control,
    /// carry negative payloads; Kestrel's keep-alive PINGs carry zeros.
    /// </summary>
    public bool IsKeepAlivePing => Type == Http2Frames.Ping && (Header[4] & 0x1) == 0 && BinaryPrimitives.ReadInt64BigEndian(Payload) >= 0;
}
