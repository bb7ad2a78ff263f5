using System.Buffers;
using System.Diagnostics;
using System.Buffers.Binary;
using System.Text;
using Ipc.Serialization;

namespace Ipc.Transports.Streams;

/// <summary>The kinds of frame of the stream wire format (docs/wire-format.md).</summary>
internal enum FrameType : byte
{
    Request = 0x01,
    Response = 0x02,
    OneWay = 0x03,
    StreamRequest = 0x04,
    StreamItem = 0x05,
    StreamEnd = 0x06,
    Cancel = 0x07,
    StreamCredit = 0x08,
    GoAway = 0x09,
    Settings = 0x0A,
    OneWayCredit = 0x0B,
}

/// <summary>Flag bits of a frame header.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,
    HasCorrelationId = 1 << 0,
    Fault = 1 << 1,
    HasContentType = 1 << 2,
    HasTimeout = 1 << 3,
    Known = HasCorrelationId | Fault | HasContentType | HasTimeout,
}

/// <summary>The fixed 16-byte header in front of every frame.</summary>
internal readonly record struct FrameHeader(FrameType Type, FrameFlags Flags, uint CallId, int MetadataLength, int BodyLength)
{
    public long FrameLength => WireFormat.HeaderSize + (long)MetadataLength + BodyLength;

    public bool CarriesMessage => Type is FrameType.Request or FrameType.Response or FrameType.OneWay or FrameType.StreamRequest or FrameType.StreamItem;
}

/// <summary>Raised when a peer breaks the wire format; the connection that received it is closed.</summary>
internal sealed class WireFormatException(string message) : Exception(message);

/// <summary>Encodes and decodes the frames of the stream wire format. Every multi-byte integer is little-endian.</summary>
internal static class WireFormat
{
    public const int HeaderSize = 16;
    public const int PrefaceSize = 8;
    public const byte Version = 2;

    /// <summary>How many stream items a server may send before the client grants more.</summary>
    public const int InitialStreamCredit = 256;

    private const int MaxVarIntBytes = 5;

    /// <summary>Strings of at most this many UTF-16 chars are under 128 bytes in UTF-8 (3 bytes a char at most), so their length is one varint byte.</summary>
    private const int MaxOneByteLengthChars = 127 / 3;

    /// <summary>Metadata whose worst case is over this many bytes is measured before it is written.</summary>
    private const int MaxReservedMetadata = 4096;

    /// <summary>"IPCW", the version, a flags byte and two reserved bytes.</summary>
    private static readonly byte[] s_preface = [0x49, 0x50, 0x43, 0x57, Version, 0, 0, 0];

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static ReadOnlySpan<byte> Preface => s_preface;

    /// <summary>Checks the peer's 8-byte preface.</summary>
    public static void ValidatePreface(ReadOnlySpan<byte> preface)
    {
        if (!preface[..4].SequenceEqual(s_preface.AsSpan(0, 4)))
        {
            throw new WireFormatException($"the peer did not open with the Ipc preface 'IPCW' (got {Convert.ToHexString(preface[..4])}); it is not an Ipc stream endpoint");
        }

        if (preface[4] != Version)
        {
            throw new WireFormatException($"the peer speaks wire format version {preface[4]}, this side speaks version {Version}");
        }
    }

    public static FrameHeader ReadHeader(ReadOnlySpan<byte> header)
    {
        var type = (FrameType)header[0];
        var flags = (FrameFlags)header[1];
        if (type is < FrameType.Request or > FrameType.OneWayCredit)
        {
            throw new WireFormatException($"unknown frame type 0x{header[0]:x2}");
        }

        if ((flags & ~FrameFlags.Known) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(header[2..]) != 0)
        {
            throw new WireFormatException($"reserved flag bits or reserved bytes are set in a {type} frame");
        }

        var metadata = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        var body = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        if (metadata > int.MaxValue || body > int.MaxValue)
        {
            throw new WireFormatException($"a {type} frame declares {metadata} metadata bytes and {body} body bytes, over the format's 2 GiB limit");
        }

        var result = new FrameHeader(type, flags, BinaryPrimitives.ReadUInt32LittleEndian(header[4..]), (int)metadata, (int)body);
        if (result.CallId == 0 && type is FrameType.Request or FrameType.StreamRequest)
        {
            throw new WireFormatException($"a {type} frame has call id 0; call ids are non-zero");
        }

        if (!result.CarriesMessage && result.MetadataLength != 0)
        {
            throw new WireFormatException($"a {type} frame carries {metadata} metadata bytes; it has none");
        }

        if ((flags & FrameFlags.Known) != 0 && !result.CarriesMessage) // every flag is a message flag
        {
            throw new WireFormatException($"a {type} frame has message flags set; it carries no message");
        }

        return result;
    }

    public static void WriteHeader(Span<byte> destination, in FrameHeader header)
    {
        destination[0] = (byte)header.Type;
        destination[1] = (byte)header.Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], header.CallId);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)header.MetadataLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], (uint)header.BodyLength);
    }

    /// <summary>Writes a frame that carries <paramref name="message"/>: header, metadata, then the body (or the encoded fault).</summary>
    public static void WriteMessage(IBufferWriter<byte> writer, FrameType type, uint callId, IpcMessage message) => WriteMessage(writer, type, callId, message, withBody: true);

    /// <summary>
    /// Writes a frame that carries <paramref name="message"/>: header, metadata, then, <paramref name="withBody"/>, the body
    /// (or the encoded fault). Without it, the caller writes the body (not a fault's) right after.
    /// </summary>
    public static void WriteMessage(IBufferWriter<byte> writer, FrameType type, uint callId, IpcMessage message, bool withBody)
    {
        Debug.Assert(withBody || message.Fault is null, "a fault's body is encoded here");
        var flags = FrameFlags.None;
        var route = message.Route;
        var messageId = message.MessageId;
        var correlationId = message.CorrelationId;
        var contentType = message.ContentType;
        var headerCount = message.HasHeaders ? message.Headers.Count : 0;
        var timeout = TimeoutMilliseconds(message.Timeout);
        flags |= correlationId is null ? FrameFlags.None : FrameFlags.HasCorrelationId;
        flags |= contentType is null ? FrameFlags.None : FrameFlags.HasContentType;
        flags |= timeout < 0 ? FrameFlags.None : FrameFlags.HasTimeout;

        // Small metadata is encoded once, straight into space for its worst case, and measured afterwards; only large
        // metadata (long headers) is measured first, so that no more than it needs is reserved.
        var metadataBound = MaxStringSize(route) + MaxStringSize(messageId) + MaxStringSize(correlationId) + MaxStringSize(contentType) + MaxVarIntBytes
            + (timeout < 0 ? 0 : MaxVarIntBytes);
        if (headerCount > 0)
        {
            foreach (var (name, value) in message.Headers)
            {
                metadataBound += MaxStringSize(name) + MaxStringSize(value);
            }
        }

        if (metadataBound > MaxReservedMetadata)
        {
            metadataBound = StringSize(route) + StringSize(messageId) + (correlationId is null ? 0 : StringSize(correlationId))
                + (contentType is null ? 0 : StringSize(contentType)) + (timeout < 0 ? 0 : VarIntSize((uint)timeout)) + VarIntSize((uint)headerCount);
            if (headerCount > 0)
            {
                foreach (var (name, value) in message.Headers)
                {
                    metadataBound += StringSize(name) + StringSize(value);
                }
            }
        }

        byte[]? faultBody = null;
        var bodyLength = message.Body.Length;
        if (message.Fault is { } fault)
        {
            flags |= FrameFlags.Fault;
            faultBody = EncodeFault(fault);
            bodyLength = faultBody.Length;
        }

        var span = writer.GetSpan(HeaderSize + metadataBound);
        var position = HeaderSize;
        position += WriteString(span[position..], route);
        position += WriteString(span[position..], messageId);
        if (correlationId is not null)
        {
            position += WriteString(span[position..], correlationId);
        }

        if (contentType is not null)
        {
            position += WriteString(span[position..], contentType);
        }

        if (timeout >= 0)
        {
            position += WriteVarInt(span[position..], (uint)timeout);
        }

        position += WriteVarInt(span[position..], (uint)headerCount);
        if (headerCount > 0)
        {
            foreach (var (name, value) in message.Headers)
            {
                position += WriteString(span[position..], name);
                position += WriteString(span[position..], value);
            }
        }

        WriteHeader(span, new FrameHeader(type, flags, callId, position - HeaderSize, bodyLength));
        writer.Advance(position);
        if (withBody)
        {
            writer.Write(faultBody is null ? message.Body.Span : faultBody);
        }
    }

    /// <summary>Writes a frame with no metadata and the given body.</summary>
    public static void WriteControl(IBufferWriter<byte> writer, FrameType type, uint callId, ReadOnlySpan<byte> body = default)
    {
        var span = writer.GetSpan(HeaderSize);
        WriteHeader(span, new FrameHeader(type, FrameFlags.None, callId, 0, body.Length));
        writer.Advance(HeaderSize);
        if (!body.IsEmpty)
        {
            writer.Write(body);
        }
    }

    public static void WriteCredit(IBufferWriter<byte> writer, uint callId, uint credit)
    {
        Span<byte> body = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(body, credit);
        WriteControl(writer, FrameType.StreamCredit, callId, body);
    }

    /// <summary>Writes a GoAway; <paramref name="lastCallId"/> is the highest call id the server has seen (0 from a client).</summary>
    public static void WriteGoAway(IBufferWriter<byte> writer, IpcErrorCode code, string reason, uint lastCallId = 0) =>
        WriteControl(writer, FrameType.GoAway, lastCallId, EncodeFault(new IpcFault(code, reason)));

    /// <summary>Writes the server's Settings: the calls a connection may have in flight and the one-way messages it may send before a grant.</summary>
    public static void WriteSettings(IBufferWriter<byte> writer, int maxConcurrentCalls, int oneWayWindow)
    {
        Span<byte> body = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)maxConcurrentCalls);
        BinaryPrimitives.WriteUInt32LittleEndian(body[4..], (uint)oneWayWindow);
        WriteControl(writer, FrameType.Settings, 0, body);
    }

    public static (int MaxConcurrentCalls, int OneWayWindow) ReadSettings(ReadOnlySpan<byte> body)
    {
        if (body.Length < 8)
        {
            throw new WireFormatException($"a Settings frame has a {body.Length}-byte body instead of at least 8");
        }

        var calls = BinaryPrimitives.ReadUInt32LittleEndian(body);
        var window = BinaryPrimitives.ReadUInt32LittleEndian(body[4..]);
        if (calls is 0 or > int.MaxValue || window is 0 or > int.MaxValue)
        {
            throw new WireFormatException($"a Settings frame allows {calls} concurrent calls and {window} one-way messages; each must be 1 to 2,147,483,647");
        }

        return ((int)calls, (int)window);
    }

    /// <summary>Writes a grant of <paramref name="credit"/> more one-way messages.</summary>
    public static void WriteOneWayCredit(IBufferWriter<byte> writer, uint credit)
    {
        Span<byte> body = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(body, credit);
        WriteControl(writer, FrameType.OneWayCredit, 0, body);
    }

    /// <summary>Reads the route, ids and headers of a message frame. The body is set by the caller.</summary>
    /// <param name="metadata">The frame's metadata.</param>
    /// <param name="flags">The frame's flags, which say what the metadata holds.</param>
    /// <param name="routes">The route names the connection read before, which give a route read again the same string; <see langword="null"/> to decode each one.</param>
    /// <param name="expectedMessageId">The message id the frame most likely carries (a response carries its request's): the same string when it does, instead of a new one.</param>
    public static IpcMessage ReadMetadata(ReadOnlySpan<byte> metadata, FrameFlags flags, RouteNames? routes = null, string? expectedMessageId = null)
    {
        var reader = new SpanReader(metadata);
        var message = new IpcMessage(routes is null ? reader.ReadString("route") : routes.Get(reader.ReadStringBytes("route")));
        var messageIdBytes = reader.ReadStringBytes("message id");
        var messageId = messageIdBytes.IsEmpty ? throw new WireFormatException("the message id is empty")
            : expectedMessageId is not null && System.Text.Ascii.Equals(messageIdBytes, expectedMessageId) ? expectedMessageId
            : Decode(messageIdBytes, "message id");
        message.MessageId = messageId;
        if ((flags & FrameFlags.HasCorrelationId) != 0)
        {
            // Most messages start a conversation, so their correlation id is their message id: decode it once.
            var correlationId = reader.ReadStringBytes("correlation id");
            message.CorrelationId = correlationId.SequenceEqual(messageIdBytes) ? messageId : Decode(correlationId, "correlation id");
        }

        if ((flags & FrameFlags.HasContentType) != 0)
        {
            var contentType = reader.ReadStringBytes("content type");
            message.ContentType =
                contentType.SequenceEqual("application/x-msgpack"u8) ? MessagePackIpcSerializer.MediaType
                : contentType.SequenceEqual("application/json"u8) ? SystemTextJsonIpcSerializer.MediaType
                : Decode(contentType, "content type");
        }

        if ((flags & FrameFlags.HasTimeout) != 0)
        {
            message.Timeout = TimeSpan.FromMilliseconds(reader.ReadVarInt("timeout"));
        }

        var count = reader.ReadVarInt("header count");
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadString("header name");
            var value = reader.ReadString("header value");
            if (name.Length == 0)
            {
                throw new WireFormatException("a header has an empty name");
            }

            message.Headers[name] = value;
        }

        reader.ExpectEnd("metadata");
        return message;
    }

    public static byte[] EncodeFault(IpcFault fault)
    {
        var size = VarIntSize((uint)fault.ErrorCode) + StringSize(fault.Message) + 1;
        if (fault.Remote is { } remote)
        {
            size += StringSize(remote.Code) + StringSize(remote.Message) + VarIntSize((uint)(remote.Details?.Count ?? 0));
            foreach (var (key, value) in remote.Details ?? Empty)
            {
                size += StringSize(key) + StringSize(value);
            }
        }

        var buffer = new byte[size];
        var span = buffer.AsSpan();
        var position = WriteVarInt(span, (uint)fault.ErrorCode);
        position += WriteString(span[position..], fault.Message);
        span[position++] = fault.Remote is null ? (byte)0 : (byte)1;
        if (fault.Remote is { } r)
        {
            position += WriteString(span[position..], r.Code);
            position += WriteString(span[position..], r.Message);
            position += WriteVarInt(span[position..], (uint)(r.Details?.Count ?? 0));
            foreach (var (key, value) in r.Details ?? Empty)
            {
                position += WriteString(span[position..], key);
                position += WriteString(span[position..], value);
            }
        }

        return buffer;
    }

    public static IpcFault DecodeFault(ReadOnlySpan<byte> body)
    {
        var reader = new SpanReader(body);
        var code = (IpcErrorCode)reader.ReadVarInt("error code");
        var message = reader.ReadString("fault message");

        IpcRemoteError? remote = null;
        switch (reader.ReadByte("remote marker"))
        {
            case 0:
                break;
            case 1:
                var remoteCode = reader.ReadString("remote code");
                var remoteMessage = reader.ReadString("remote message");
                var count = reader.ReadVarInt("detail count");
                Dictionary<string, string>? details = count == 0 ? null : new(StringComparer.Ordinal);
                for (var i = 0; i < count; i++)
                {
                    details![reader.ReadString("detail key")] = reader.ReadString("detail value");
                }

                remote = new IpcRemoteError(remoteCode, remoteMessage, details);
                break;
            default:
                throw new WireFormatException("the remote marker of a fault is neither 0 nor 1");
        }

        reader.ExpectEnd("fault");
        return new IpcFault(code, message, remote);
    }

    /// <summary>
    /// Decodes a fault to hand to a caller: an error code no <see cref="IpcErrorCode"/> has (a newer peer's, or garbage)
    /// reads as <see cref="IpcErrorCode.Unknown"/>, its number kept in the message, since callers switch on the codes they know.
    /// </summary>
    public static IpcFault DecodeKnownFault(ReadOnlySpan<byte> body)
    {
        var fault = DecodeFault(body);
        return Enum.IsDefined(fault.ErrorCode)
            ? fault
            : new IpcFault(IpcErrorCode.Unknown, $"{fault.Message} (error code {(int)fault.ErrorCode}, which this side does not know)", fault.Remote);
    }

    public static uint ReadCredit(ReadOnlySpan<byte> body) =>
        body.Length == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(body) : throw new WireFormatException($"a StreamCredit frame has a {body.Length}-byte body instead of 4");

    private static IReadOnlyDictionary<string, string> Empty { get; } = new Dictionary<string, string>();

    /// <summary>
    /// The remaining time a frame carries, in whole milliseconds rounded up (so that time left never reads as none);
    /// 0 when none is left, and -1 when there is no deadline or one further away than a varint holds (about 24.8 days).
    /// </summary>
    internal static int TimeoutMilliseconds(TimeSpan? timeout)
    {
        if (timeout is not { } value)
        {
            return -1;
        }

        if (value <= TimeSpan.Zero)
        {
            return 0;
        }

        var milliseconds = (value.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
        return milliseconds > int.MaxValue ? -1 : (int)milliseconds;
    }

    private static int StringSize(string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        return VarIntSize((uint)bytes) + bytes;
    }

    /// <summary>The most bytes <paramref name="value"/> can take as a string field, computed without reading it.</summary>
    private static int MaxStringSize(string? value) =>
        value is null ? 0 : (value.Length <= MaxOneByteLengthChars ? 1 : MaxVarIntBytes) + Encoding.UTF8.GetMaxByteCount(value.Length);

    /// <summary>Writes a string field; <paramref name="destination"/> must hold at least its size.</summary>
    private static int WriteString(Span<byte> destination, string value)
    {
        if (value.Length <= MaxOneByteLengthChars)
        {
            // Its UTF-8 form is under 128 bytes, so its length takes one byte: encode it once, right behind that byte.
            var written = Encoding.UTF8.GetBytes(value, destination[1..]);
            destination[0] = (byte)written;
            return 1 + written;
        }

        var bytes = Encoding.UTF8.GetByteCount(value);
        var prefix = WriteVarInt(destination, (uint)bytes);
        return prefix + Encoding.UTF8.GetBytes(value, destination[prefix..]);
    }

    private static int VarIntSize(uint value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    private static int WriteVarInt(Span<byte> destination, uint value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Decodes a string field, which must be strict UTF-8.</summary>
    internal static string Decode(ReadOnlySpan<byte> bytes, string what)
    {
        if (Ascii.IsValid(bytes))
        {
            return Encoding.Latin1.GetString(bytes); // ASCII, the common case, is Latin-1 too: one widening copy, nothing left to check
        }

        try
        {
            return s_strictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new WireFormatException($"the {what} is not valid UTF-8");
        }
    }

    private ref struct SpanReader(ReadOnlySpan<byte> span)
    {
        private readonly ReadOnlySpan<byte> _span = span;
        private int _position;

        public byte ReadByte(string what, string? part = null)
        {
            if (_position >= _span.Length)
            {
                throw new WireFormatException($"the {what}{part} runs past the end of its section");
            }

            return _span[_position++];
        }

        /// <summary>Reads a varint; <paramref name="part"/> completes <paramref name="what"/> in an error, so that no message is built unless one is thrown.</summary>
        public int ReadVarInt(string what, string? part = null)
        {
            uint value = 0;
            for (var i = 0; i < MaxVarIntBytes; i++)
            {
                var b = ReadByte(what, part);
                value |= (uint)(b & 0x7F) << (7 * i);
                if ((b & 0x80) == 0)
                {
                    // The fifth byte carries bits 28-34; bits 32-34 would drop out of the uint unseen, and any over bit 30 is over 2^31-1.
                    if (value > int.MaxValue || (i > 0 && b == 0) || (i == MaxVarIntBytes - 1 && b > 0x07))
                    {
                        throw new WireFormatException($"the {what}{part} is not a minimal varint of at most 2^31-1");
                    }

                    return (int)value;
                }
            }

            throw new WireFormatException($"the {what}{part} is a varint longer than {MaxVarIntBytes} bytes");
        }

        public string ReadString(string what) => Decode(ReadStringBytes(what), what);

        /// <summary>Reads a string field's bytes, not yet checked to be UTF-8.</summary>
        public ReadOnlySpan<byte> ReadStringBytes(string what)
        {
            var length = ReadVarInt(what, " length");
            if (length > _span.Length - _position)
            {
                throw new WireFormatException($"the {what} declares {length} bytes but only {_span.Length - _position} remain");
            }

            var bytes = _span.Slice(_position, length);
            _position += length;
            return bytes;
        }

        public readonly void ExpectEnd(string what)
        {
            if (_position != _span.Length)
            {
                throw new WireFormatException($"the {what} has {_span.Length - _position} bytes left over after its last field");
            }
        }
    }
}
