using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Ipc.Serialization;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

public sealed class WireFormatTests
{
    private const int H = WireFormat.HeaderSize;

    public static TheoryData<string> MessageTypes => [nameof(FrameType.Request), nameof(FrameType.Response), nameof(FrameType.OneWay), nameof(FrameType.StreamRequest), nameof(FrameType.StreamItem)];

    public static TheoryData<string> ControlTypes => [nameof(FrameType.StreamEnd), nameof(FrameType.Cancel), nameof(FrameType.StreamCredit), nameof(FrameType.GoAway)];

    // ---- Preface ----

    [Fact]
    public void Preface_IsMagicVersionAndReservedBytes()
    {
        Assert.Equal(WireFormat.PrefaceSize, WireFormat.Preface.Length);
        Assert.Equal(new byte[] { 0x49, 0x50, 0x43, 0x57, WireFormat.Version, 0, 0, 0 }, WireFormat.Preface.ToArray());
    }

    [Fact]
    public void ValidatePreface_OwnPreface_Passes() => WireFormat.ValidatePreface(WireFormat.Preface);

    [Fact]
    public void ValidatePreface_FlagsAndReservedBytesSet_Passes()
    {
        // Receivers ignore the preface's flags and reserved bytes (docs/wire-format.md section 2).
        var preface = WireFormat.Preface.ToArray();
        preface[5] = 0xFF;
        preface[6] = 0x01;
        preface[7] = 0x80;

        WireFormat.ValidatePreface(preface);
    }

    [Theory]
    [InlineData("GET / HT")]
    [InlineData("IPCX\u0001\0\0\0")]
    [InlineData("ipcw\u0001\0\0\0")]
    public void ValidatePreface_BadMagic_ThrowsNamingWhatArrived(string text)
    {
        var preface = Encoding.Latin1.GetBytes(text);

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ValidatePreface(preface));

        Assert.Contains("'IPCW'", error.Message, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexString(preface, 0, 4), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(255)]
    public void ValidatePreface_WrongVersion_ThrowsNamingBothVersions(byte version)
    {
        var preface = WireFormat.Preface.ToArray();
        preface[4] = version;

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ValidatePreface(preface));

        Assert.Contains($"version {version}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"version {WireFormat.Version}", error.Message, StringComparison.Ordinal);
    }

    // ---- Header ----

    [Fact]
    public void WriteHeader_AllFields_LittleEndianLayout()
    {
        var header = new byte[H];

        WireFormat.WriteHeader(header, new FrameHeader(FrameType.Response, FrameFlags.HasCorrelationId | FrameFlags.Fault, 0x04030201, 0x0C0B0A09, 0x100F0E0D));

        Assert.Equal(new byte[] { 0x02, 0x03, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10 }, header);
    }

    [Theory]
    [MemberData(nameof(MessageTypes))]
    public void ReadHeader_MessageFrameWrittenByWriteHeader_RoundTrips(string frameType)
    {
        var type = Enum.Parse<FrameType>(frameType);
        var written = new FrameHeader(type, FrameFlags.Known, uint.MaxValue, int.MaxValue, int.MaxValue);
        var bytes = new byte[H];
        WireFormat.WriteHeader(bytes, written);

        var read = WireFormat.ReadHeader(bytes);

        Assert.Equal(written, read);
        Assert.True(read.CarriesMessage);
        Assert.Equal(H + 2L * int.MaxValue, read.FrameLength);
    }

    [Theory]
    [MemberData(nameof(ControlTypes))]
    public void ReadHeader_ControlFrameWrittenByWriteHeader_RoundTrips(string frameType)
    {
        var type = Enum.Parse<FrameType>(frameType);
        var written = new FrameHeader(type, FrameFlags.None, 7, 0, 12);
        var bytes = new byte[H];
        WireFormat.WriteHeader(bytes, written);

        var read = WireFormat.ReadHeader(bytes);

        Assert.Equal(written, read);
        Assert.False(read.CarriesMessage);
        Assert.Equal(H + 12, read.FrameLength);
    }

    [Theory]
    [InlineData((byte)FrameType.Request)]
    [InlineData((byte)FrameType.StreamRequest)]
    public void ReadHeader_CallStartingWithCallIdZero_Throws(byte type)
    {
        var bytes = new byte[H];
        WireFormat.WriteHeader(bytes, new FrameHeader((FrameType)type, FrameFlags.None, 0, 4, 0));

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(bytes));

        Assert.Contains("call id 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadSettings_RoundTrips_AndZeroLimitsAreRefused()
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        WireFormat.WriteSettings(writer, 100, 1024);
        var header = WireFormat.ReadHeader(writer.WrittenSpan[..H]);

        Assert.Equal((FrameType.Settings, 8), (header.Type, header.BodyLength));
        Assert.Equal((100, 1024), WireFormat.ReadSettings(writer.WrittenSpan[H..]));
        Assert.Throws<WireFormatException>(() => WireFormat.ReadSettings(new byte[8]));
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x0C)]
    [InlineData(0x7F)]
    [InlineData(0xFF)]
    public void ReadHeader_UnknownType_ThrowsNamingTheType(byte type)
    {
        var bytes = new byte[H];
        bytes[0] = type;

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(bytes));

        Assert.Contains($"unknown frame type 0x{type:x2}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadHeader_EveryUnknownFlagBit_Throws()
    {
        var unknown = Enumerable.Range(0, 8).Select(bit => (FrameFlags)(1 << bit)).Where(flag => (flag & FrameFlags.Known) == 0).ToList();
        Assert.NotEmpty(unknown);
        foreach (var flag in unknown)
        {
            var bytes = Header(FrameType.Request, flag);

            var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(bytes));

            Assert.Contains("reserved flag bits", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadHeader_ReservedByteSet_Throws(int index)
    {
        var bytes = Header(FrameType.Cancel);
        bytes[index] = 1;

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(bytes));

        Assert.Contains("reserved bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("Cancel", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x8000_0000u, 0u)]
    [InlineData(0u, 0x8000_0000u)]
    [InlineData(uint.MaxValue, uint.MaxValue)]
    public void ReadHeader_LengthOver2GiB_Throws(uint metadata, uint body)
    {
        var bytes = Header(FrameType.Request);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), metadata);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), body);

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(bytes));

        Assert.Contains("2 GiB limit", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(ControlTypes))]
    public void ReadHeader_ControlFrameWithMetadata_Throws(string frameType)
    {
        var type = Enum.Parse<FrameType>(frameType);
        var bytes = Header(type);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 1);

        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(bytes));

        Assert.Contains($"a {type} frame carries 1 metadata bytes", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(FrameType.Cancel), nameof(FrameFlags.HasCorrelationId))]
    [InlineData(nameof(FrameType.StreamEnd), nameof(FrameFlags.Fault))]
    [InlineData(nameof(FrameType.GoAway), nameof(FrameFlags.HasContentType))]
    [InlineData(nameof(FrameType.StreamCredit), nameof(FrameFlags.Known))]
    public void ReadHeader_ControlFrameWithMessageFlags_Throws(string frameType, string frameFlags)
    {
        var type = Enum.Parse<FrameType>(frameType);
        var flags = Enum.Parse<FrameFlags>(frameFlags);
        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadHeader(Header(type, flags)));

        Assert.Contains($"a {type} frame has message flags set", error.Message, StringComparison.Ordinal);
    }

    // ---- Messages ----

    [Theory]
    [MemberData(nameof(MessageTypes))]
    public void WriteMessage_EveryMessageType_ReadsBackHeaderMetadataAndBody(string frameType)
    {
        var type = Enum.Parse<FrameType>(frameType);
        var message = new IpcMessage("calculator/add", new byte[] { 1, 2, 3, 250 }) { MessageId = "m-1", CorrelationId = "c-1", ContentType = "application/x-msgpack" };
        message.Headers["traceparent"] = "00-abc-def-01";

        var (header, read, body) = RoundTrip(type, 42, message);

        Assert.Equal(type, header.Type);
        Assert.Equal(42u, header.CallId);
        Assert.Equal(FrameFlags.HasCorrelationId | FrameFlags.HasContentType, header.Flags);
        Assert.Equal("calculator/add", read.Route);
        Assert.Equal("m-1", read.MessageId);
        Assert.Equal("c-1", read.CorrelationId);
        Assert.Equal("application/x-msgpack", read.ContentType);
        Assert.Equal("00-abc-def-01", read.Headers["traceparent"]);
        Assert.Equal(new byte[] { 1, 2, 3, 250 }, body);
    }

    [Fact]
    public void WriteMessage_NoCorrelationIdContentTypeOrHeaders_SetsNoFlags()
    {
        var (header, read, body) = RoundTrip(FrameType.OneWay, 0, new IpcMessage("r") { MessageId = "m" });

        Assert.Equal(FrameFlags.None, header.Flags);
        Assert.Null(read.CorrelationId);
        Assert.Null(read.ContentType);
        Assert.False(read.HasHeaders);
        Assert.Empty(body);
    }

    [Fact]
    public void WriteMessage_CorrelationIdEqualToMessageId_ReadsBackEqual()
    {
        var (header, read, _) = RoundTrip(FrameType.Request, 1, new IpcMessage("r") { MessageId = "same-id", CorrelationId = "same-id" });

        Assert.Equal(FrameFlags.HasCorrelationId, header.Flags);
        Assert.Equal("same-id", read.MessageId);
        Assert.Equal("same-id", read.CorrelationId);
    }

    [Fact]
    public void WriteMessage_CorrelationIdDifferentFromMessageId_ReadsBackBoth()
    {
        var (_, read, _) = RoundTrip(FrameType.Request, 1, new IpcMessage("r") { MessageId = "message", CorrelationId = "conversation-ü" });

        Assert.Equal("message", read.MessageId);
        Assert.Equal("conversation-ü", read.CorrelationId);
    }

    [Fact]
    public void WriteMessage_EmptyCorrelationId_ReadsBackEmptyNotNull()
    {
        var (header, read, _) = RoundTrip(FrameType.Request, 1, new IpcMessage("r") { MessageId = "m", CorrelationId = string.Empty });

        Assert.Equal(FrameFlags.HasCorrelationId, header.Flags);
        Assert.Equal(string.Empty, read.CorrelationId);
    }

    [Theory]
    [InlineData("msgpack")]
    [InlineData("json")]
    public void ReadMetadata_KnownContentType_ReturnsTheSerializersConstant(string serializer)
    {
        // Written from a copy, so that only the reader can make it the constant's instance again.
        var contentType = serializer == "json" ? SystemTextJsonIpcSerializer.MediaType : MessagePackIpcSerializer.MediaType;
        var (header, read, _) = RoundTrip(FrameType.Response, 3, new IpcMessage("r") { MessageId = "m", ContentType = new string(contentType.AsSpan()) });

        Assert.Equal(FrameFlags.HasContentType, header.Flags);
        Assert.Same(contentType, read.ContentType); // no new string for the media types every call carries
    }

    [Theory]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-msgpack+lz4")]
    [InlineData("application/JSON")]
    [InlineData("")]
    public void ReadMetadata_OtherContentType_ReadsBackAsWritten(string contentType)
    {
        var (_, read, _) = RoundTrip(FrameType.Request, 3, new IpcMessage("r") { MessageId = "m", ContentType = contentType });

        Assert.Equal(contentType, read.ContentType);
    }

    [Fact]
    public void WriteMessage_NonAsciiHeaderValues_ReadBackExactly()
    {
        var message = new IpcMessage("r") { MessageId = "m" };
        message.Headers["latin"] = "café crème";
        message.Headers["cjk"] = "日本語のヘッダー";
        message.Headers["emoji"] = "📦 → 🚀";
        message.Headers["ascii"] = "plain";
        message.Headers["empty"] = string.Empty;
        message.Headers["näme"] = "non-ASCII name";

        var (_, read, _) = RoundTrip(FrameType.Request, 1, message);

        Assert.Equal(message.Headers.OrderBy(h => h.Key, StringComparer.Ordinal), read.Headers.OrderBy(h => h.Key, StringComparer.Ordinal));
    }

    [Theory]
    [InlineData('a')]
    [InlineData('é')]
    [InlineData('語')]
    public void WriteMessage_NineThousandByteHeader_ReadsBackExactly(char c)
    {
        // Over the metadata the writer reserves for its worst case without measuring: this one is measured first.
        var value = new string(c, 9_000 / Encoding.UTF8.GetByteCount([c]));
        Assert.Equal(9_000, Encoding.UTF8.GetByteCount(value));
        var message = new IpcMessage("r") { MessageId = "m", CorrelationId = "c", ContentType = "application/json" };
        message.Headers["big"] = value;
        message.Headers["small"] = "x";

        var (header, read, body) = RoundTrip(FrameType.Request, 9, message, new byte[] { 7 });

        Assert.Equal(value, read.Headers["big"]);
        Assert.Equal("x", read.Headers["small"]);
        Assert.Equal("c", read.CorrelationId);
        Assert.True(header.MetadataLength > 9_000);
        Assert.Equal(new byte[] { 7 }, body);
    }

    [Fact]
    public void WriteMessage_ManyHeaders_ReadBackAll()
    {
        var message = new IpcMessage("r") { MessageId = "m" };
        for (var i = 0; i < 300; i++)
        {
            message.Headers[$"h{i}"] = new string('v', i);
        }

        var (_, read, _) = RoundTrip(FrameType.Request, 1, message);

        Assert.Equal(300, read.Headers.Count);
        Assert.Equal(new string('v', 299), read.Headers["h299"]);
    }

    /// <summary>
    /// Strings around the one-byte length prefix (42 chars of 3 UTF-8 bytes = 126 bytes; 43 = 129), just under and past
    /// the metadata reserved without measuring (4 KiB), in every UTF-8 width. The writer reserves <c>MaxStringSize</c> per field; the exact-size buffer writer
    /// fails if a field needs more than was reserved.
    /// </summary>
    [Theory]
    [InlineData("a", 0)]
    [InlineData("a", 42)]
    [InlineData("a", 127)]
    [InlineData("a", 128)]
    [InlineData("é", 42)]
    [InlineData("é", 63)]
    [InlineData("é", 64)]
    [InlineData("語", 41)]
    [InlineData("語", 42)]
    [InlineData("語", 43)]
    [InlineData("語", 250)]
    [InlineData("語", 1_400)]
    [InlineData("😀", 125)]
    [InlineData("😀", 21)]
    [InlineData("😀", 22)]
    [InlineData("😀", 3_000)]
    [InlineData("a", 20_000)]
    public void WriteMessage_StringLengthsAroundLimits_ReadBackExactly(string unit, int count)
    {
        var text = string.Concat(Enumerable.Repeat(unit, count));
        var message = new IpcMessage(text) { MessageId = "m" + text, CorrelationId = text + "c", ContentType = text };
        message.Headers["h"] = text;

        var (_, read, _) = RoundTrip(FrameType.Request, 1, message);

        Assert.Equal(text, read.Route);
        Assert.Equal("m" + text, read.MessageId);
        Assert.Equal(text + "c", read.CorrelationId);
        Assert.Equal(text, read.ContentType);
        Assert.Equal(text, read.Headers["h"]);
    }

    [Fact]
    public void WriteMessage_TwoMessagesIntoOneWriter_EachReadsBackAtItsOffset()
    {
        var writer = new ExactBufferWriter();
        WireFormat.WriteMessage(writer, FrameType.Request, 1, new IpcMessage("first", new byte[] { 1 }) { MessageId = "a" });
        WireFormat.WriteMessage(writer, FrameType.Request, 2, new IpcMessage("second", new byte[] { 2, 2 }) { MessageId = "b" });
        var bytes = writer.WrittenSpan;

        var first = WireFormat.ReadHeader(bytes[..H]);
        var second = WireFormat.ReadHeader(bytes.Slice((int)first.FrameLength, H));
        var secondMetadata = WireFormat.ReadMetadata(bytes.Slice((int)first.FrameLength + H, second.MetadataLength), second.Flags);

        Assert.Equal(1u, first.CallId);
        Assert.Equal(2u, second.CallId);
        Assert.Equal("second", secondMetadata.Route);
        Assert.Equal(bytes.Length, first.FrameLength + second.FrameLength);
    }

    [Fact]
    public void WriteMessage_Fault_SetsFaultFlagAndCarriesTheEncodedFaultInsteadOfTheBody()
    {
        var fault = new IpcFault(IpcErrorCode.RemoteError, "handler failed", new IpcRemoteError("ACCOUNT_LOCKED", "locked"));
        var message = new IpcMessage("r", new byte[] { 9, 9, 9 }) { MessageId = "m", Fault = fault };

        var (header, _, body) = RoundTrip(FrameType.Response, 5, message);

        Assert.Equal(FrameFlags.Fault, header.Flags);
        Assert.Equal(WireFormat.EncodeFault(fault), body);
        AssertFault(fault, WireFormat.DecodeFault(body));
    }

    // ---- Malformed metadata: each names its field ----

    public static TheoryData<string, byte[], int, string> MalformedMetadata => new()
    {
        { "empty metadata", [], 0, "the route length runs past the end" },
        { "route longer than the metadata", [5, (byte)'a'], 0, "the route declares 5 bytes but only 1 remain" },
        { "route not UTF-8", [2, 0xC3, 0x28, 1, (byte)'m', 0], 0, "the route is not valid UTF-8" },
        { "route overlong UTF-8", [2, 0xC0, 0x80, 1, (byte)'m', 0], 0, "the route is not valid UTF-8" },
        { "route encodes a surrogate", [3, 0xED, 0xA0, 0x80, 1, (byte)'m', 0], 0, "the route is not valid UTF-8" },
        { "route length not minimal", [0x81, 0x00, (byte)'r', 1, (byte)'m', 0], 0, "the route length is not a minimal varint" },
        { "no message id", [1, (byte)'r'], 0, "the message id length runs past the end" },
        { "empty message id", [1, (byte)'r', 0, 0], 0, "the message id is empty" },
        { "message id not UTF-8", [1, (byte)'r', 1, 0xFF, 0], 0, "the message id is not valid UTF-8" },
        { "correlation id flagged but missing", [1, (byte)'r', 1, (byte)'m'], (int)FrameFlags.HasCorrelationId, "the correlation id length runs past the end" },
        { "correlation id not UTF-8", [1, (byte)'r', 1, (byte)'m', 1, 0x80, 0], (int)FrameFlags.HasCorrelationId, "the correlation id is not valid UTF-8" },
        { "content type flagged but missing", [1, (byte)'r', 1, (byte)'m'], (int)FrameFlags.HasContentType, "the content type length runs past the end" },
        { "content type longer than the metadata", [1, (byte)'r', 1, (byte)'m', 9, (byte)'x', 0], (int)FrameFlags.HasContentType, "the content type declares 9 bytes but only 2 remain" },
        { "content type not UTF-8", [1, (byte)'r', 1, (byte)'m', 1, 0xFE, 0], (int)FrameFlags.HasContentType, "the content type is not valid UTF-8" },
        { "no header count", [1, (byte)'r', 1, (byte)'m'], 0, "the header count runs past the end" },
        { "header count not minimal", [1, (byte)'r', 1, (byte)'m', 0x80, 0x00], 0, "the header count is not a minimal varint" },
        { "header count over 2^31-1", [1, (byte)'r', 1, (byte)'m', 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], 0, "the header count is not a minimal varint of at most 2^31-1" },
        { "header count longer than 5 bytes", [1, (byte)'r', 1, (byte)'m', 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 0, "the header count is a varint longer than 5 bytes" },
        { "header count with bits past 32 (reads as 0 if they are dropped)", [1, (byte)'r', 1, (byte)'m', 0x80, 0x80, 0x80, 0x80, 0x10], 0, "the header count is not a minimal varint of at most 2^31-1" },
        { "header count with bits past 32 (reads as 1 if they are dropped)", [1, (byte)'r', 1, (byte)'m', 0x81, 0x80, 0x80, 0x80, 0x70], 0, "the header count is not a minimal varint of at most 2^31-1" },
        { "header count cut short", [1, (byte)'r', 1, (byte)'m', 0x80], 0, "the header count runs past the end" },
        { "fewer headers than counted", [1, (byte)'r', 1, (byte)'m', 2, 1, (byte)'n', 1, (byte)'v'], 0, "the header name length runs past the end" },
        { "header value missing", [1, (byte)'r', 1, (byte)'m', 1, 1, (byte)'n'], 0, "the header value length runs past the end" },
        { "header name not UTF-8", [1, (byte)'r', 1, (byte)'m', 1, 1, 0xC3, 0], 0, "the header name is not valid UTF-8" },
        { "header value not UTF-8", [1, (byte)'r', 1, (byte)'m', 1, 1, (byte)'n', 2, 0xE2, 0x82], 0, "the header value is not valid UTF-8" },
        { "header value longer than the metadata", [1, (byte)'r', 1, (byte)'m', 1, 1, (byte)'n', 4, (byte)'v'], 0, "the header value declares 4 bytes but only 1 remain" },
        { "empty header name", [1, (byte)'r', 1, (byte)'m', 1, 0, 1, (byte)'v'], 0, "a header has an empty name" },
        { "bytes after the last header", [1, (byte)'r', 1, (byte)'m', 0, 0xAA], 0, "the metadata has 1 bytes left over after its last field" },
        { "content type present but not flagged", [1, (byte)'r', 1, (byte)'m', 1, (byte)'t', 0], 0, "the header name declares 116 bytes but only 1 remain" },
    };

    [Theory]
    [MemberData(nameof(MalformedMetadata))]
    public void ReadMetadata_MalformedField_ThrowsNamingTheField(string scenario, byte[] metadata, int flags, string expected)
    {
        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadMetadata(metadata, (FrameFlags)flags));

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{scenario}: \"{error.Message}\" does not say \"{expected}\"");
    }

    [Fact]
    public void ReadMetadata_HandBuiltPerTheDocs_Reads()
    {
        // The layout of docs/wire-format.md section 5, built by hand: the malformed cases above differ from it in one field.
        byte[] metadata = [1, (byte)'r', 1, (byte)'m', 1, (byte)'c', 1, (byte)'t', 1, 1, (byte)'n', 2, 0xC3, 0xA9];

        var message = WireFormat.ReadMetadata(metadata, FrameFlags.HasCorrelationId | FrameFlags.HasContentType);

        Assert.Equal("r", message.Route);
        Assert.Equal("m", message.MessageId);
        Assert.Equal("c", message.CorrelationId);
        Assert.Equal("t", message.ContentType);
        Assert.Equal("é", message.Headers["n"]);
    }

    [Fact]
    public void ReadMetadata_LargestVarInt_IsReadAsTwoToThe31MinusOne()
    {
        // A header count of 2^31-1 (the largest a varint may carry) with no headers after it: read, then found missing.
        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadMetadata([1, (byte)'r', 1, (byte)'m', 0xFF, 0xFF, 0xFF, 0xFF, 0x07], FrameFlags.None));

        Assert.Contains("the header name length runs past the end", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadMetadata_TheExpectedMessageId_IsThatString()
    {
        var expected = new string("m".AsSpan());

        var message = WireFormat.ReadMetadata([1, (byte)'r', 1, (byte)'m', 0], FrameFlags.None, expectedMessageId: expected);

        Assert.Same(expected, message.MessageId);
    }

    [Theory]
    [InlineData("m", "n")] // another id
    [InlineData("m", "mm")] // the same start, longer
    [InlineData("mm", "m")] // shorter
    [InlineData("é", "é")] // the same, but not ASCII: decoded as any other
    public void ReadMetadata_AnotherMessageIdThanExpected_IsDecoded(string sent, string expected)
    {
        var id = System.Text.Encoding.UTF8.GetBytes(sent);

        var message = WireFormat.ReadMetadata([1, (byte)'r', (byte)id.Length, .. id, 0], FrameFlags.None, expectedMessageId: expected);

        Assert.Equal(sent, message.MessageId);
        Assert.NotSame(expected, message.MessageId);
    }

    [Fact]
    public void ReadMetadata_EmptyRoute_Reads()
    {
        var message = WireFormat.ReadMetadata([0, 1, (byte)'m', 0], FrameFlags.None);

        Assert.Equal(string.Empty, message.Route);
    }

    // ---- Faults ----

    public static TheoryData<IpcFault> Faults => new()
    {
        new IpcFault(IpcErrorCode.Unknown, string.Empty),
        new IpcFault(IpcErrorCode.Timeout, "the call timed out"),
        new IpcFault(IpcErrorCode.NoHandler, "no handler for 'calculator/ädd'"),
        new IpcFault(IpcErrorCode.RemoteError, "handler failed", new IpcRemoteError("ACCOUNT_LOCKED", "locked")),
        new IpcFault(IpcErrorCode.RemoteError, "handler failed", new IpcRemoteError("E", "Fehler: Überlauf 日本", new Dictionary<string, string> { ["account"] = "42", ["grund"] = "zu viele Versuche 🚫", ["empty"] = string.Empty })),
        new IpcFault((IpcErrorCode)1000, new string('x', 300)),
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void DecodeFault_EncodedFault_RoundTrips(IpcFault fault) => AssertFault(fault, WireFormat.DecodeFault(WireFormat.EncodeFault(fault)));

    [Fact]
    public void EncodeFault_RemoteWithoutDetails_WritesCountZeroAndDecodesWithoutDetails()
    {
        var fault = new IpcFault(IpcErrorCode.RemoteError, "m", new IpcRemoteError("C", "x"));

        var bytes = WireFormat.EncodeFault(fault);

        Assert.Equal(new byte[] { 5, 1, (byte)'m', 1, 1, (byte)'C', 1, (byte)'x', 0 }, bytes);
        Assert.Null(WireFormat.DecodeFault(bytes).Remote!.Details);
    }

    public static TheoryData<string, byte[], string> MalformedFaults => new()
    {
        { "empty", [], "the error code runs past the end" },
        { "error code not minimal", [0x81, 0x00, 0, 0], "the error code is not a minimal varint" },
        { "error code with bits past 32", [0x85, 0x80, 0x80, 0x80, 0x10, 0, 0], "the error code is not a minimal varint of at most 2^31-1" },
        { "no message", [1], "the fault message length runs past the end" },
        { "message not UTF-8", [1, 1, 0xFF, 0], "the fault message is not valid UTF-8" },
        { "no remote marker", [1, 0], "the remote marker runs past the end" },
        { "remote marker 2", [1, 0, 2], "the remote marker of a fault is neither 0 nor 1" },
        { "no remote code", [5, 0, 1], "the remote code length runs past the end" },
        { "remote message cut short", [5, 0, 1, 1, (byte)'C', 3, (byte)'x'], "the remote message declares 3 bytes but only 1 remain" },
        { "no detail count", [5, 0, 1, 1, (byte)'C', 0], "the detail count runs past the end" },
        { "detail key missing", [5, 0, 1, 1, (byte)'C', 0, 1], "the detail key length runs past the end" },
        { "detail value not UTF-8", [5, 0, 1, 1, (byte)'C', 0, 1, 1, (byte)'k', 1, 0xC0], "the detail value is not valid UTF-8" },
        { "bytes after the fault", [1, 0, 0, 0xAA, 0xBB], "the fault has 2 bytes left over after its last field" },
    };

    [Theory]
    [MemberData(nameof(MalformedFaults))]
    public void DecodeFault_MalformedField_ThrowsNamingTheField(string scenario, byte[] body, string expected)
    {
        var error = Assert.Throws<WireFormatException>(() => WireFormat.DecodeFault(body));

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"{scenario}: \"{error.Message}\" does not say \"{expected}\"");
    }

    // ---- Control frames: credits, GoAway ----

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData((uint)WireFormat.InitialStreamCredit)]
    [InlineData(uint.MaxValue)]
    public void WriteCredit_ReadsBackAsStreamCreditFrame(uint credit)
    {
        var writer = new ExactBufferWriter();

        WireFormat.WriteCredit(writer, 17, credit);

        var bytes = writer.WrittenSpan;
        var header = WireFormat.ReadHeader(bytes[..H]);
        Assert.Equal(new FrameHeader(FrameType.StreamCredit, FrameFlags.None, 17, 0, 4), header);
        Assert.Equal(header.FrameLength, bytes.Length);
        Assert.Equal(credit, BinaryPrimitives.ReadUInt32LittleEndian(bytes[H..]));
        Assert.Equal(credit, WireFormat.ReadCredit(bytes[H..]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(5)]
    public void ReadCredit_BodyNotFourBytes_ThrowsNamingTheSize(int size)
    {
        var error = Assert.Throws<WireFormatException>(() => WireFormat.ReadCredit(new byte[size]));

        Assert.Contains($"StreamCredit frame has a {size}-byte body instead of 4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteGoAway_ReadsBackAsGoAwayFrameWithFault()
    {
        var writer = new ExactBufferWriter();

        WireFormat.WriteGoAway(writer, IpcErrorCode.ProtocolError, "unknown frame type 0x0a; closing");

        var bytes = writer.WrittenSpan;
        var header = WireFormat.ReadHeader(bytes[..H]);
        Assert.Equal(FrameType.GoAway, header.Type);
        Assert.Equal(FrameFlags.None, header.Flags);
        Assert.Equal(0u, header.CallId);
        Assert.Equal(0, header.MetadataLength);
        Assert.Equal(header.FrameLength, bytes.Length);
        AssertFault(new IpcFault(IpcErrorCode.ProtocolError, "unknown frame type 0x0a; closing"), WireFormat.DecodeFault(bytes[H..]));
    }

    [Theory]
    [InlineData(nameof(FrameType.Cancel))]
    [InlineData(nameof(FrameType.StreamEnd))]
    public void WriteControl_NoBody_WritesTheHeaderAlone(string frameType)
    {
        var type = Enum.Parse<FrameType>(frameType);
        var writer = new ExactBufferWriter();

        WireFormat.WriteControl(writer, type, 99);

        Assert.Equal(H, writer.WrittenSpan.Length);
        Assert.Equal(new FrameHeader(type, FrameFlags.None, 99, 0, 0), WireFormat.ReadHeader(writer.WrittenSpan));
    }

    private static byte[] Header(FrameType type, FrameFlags flags = FrameFlags.None)
    {
        var bytes = new byte[H];
        bytes[0] = (byte)type;
        bytes[1] = (byte)flags;
        return bytes;
    }

    private static (FrameHeader Header, IpcMessage Message, byte[] Body) RoundTrip(FrameType type, uint callId, IpcMessage message, byte[]? body = null)
    {
        if (body is not null)
        {
            message.Body = body;
        }

        var writer = new ExactBufferWriter();
        WireFormat.WriteMessage(writer, type, callId, message);
        var bytes = writer.WrittenSpan;
        var header = WireFormat.ReadHeader(bytes[..H]);
        Assert.Equal(bytes.Length, header.FrameLength);
        var read = WireFormat.ReadMetadata(bytes.Slice(H, header.MetadataLength), header.Flags);
        return (header, read, bytes[(H + header.MetadataLength)..].ToArray());
    }

    private static void AssertFault(IpcFault expected, IpcFault actual)
    {
        Assert.Equal(expected.ErrorCode, actual.ErrorCode);
        Assert.Equal(expected.Message, actual.Message);
        Assert.Equal(expected.Remote is null, actual.Remote is null);
        if (expected.Remote is { } remote)
        {
            Assert.Equal(remote.Code, actual.Remote!.Code);
            Assert.Equal(remote.Message, actual.Remote.Message);
            Assert.Equal(remote.Details?.OrderBy(d => d.Key, StringComparer.Ordinal), actual.Remote.Details?.OrderBy(d => d.Key, StringComparer.Ordinal));
        }
    }

    /// <summary>
    /// A buffer writer that hands out exactly the size asked for (one byte when asked for none), so a writer that reserves
    /// less than it then writes fails instead of spilling into spare capacity.
    /// </summary>
    private sealed class ExactBufferWriter : IBufferWriter<byte>
    {
        private readonly List<byte> _written = [];
        private byte[] _current = [];

        public ReadOnlySpan<byte> WrittenSpan => _written.ToArray();

        public void Advance(int count)
        {
            if (count > _current.Length)
            {
                throw new InvalidOperationException($"advanced {count} bytes past a {_current.Length}-byte span");
            }

            _written.AddRange(_current.AsSpan(0, count));
            _current = [];
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 1)];

        public Span<byte> GetSpan(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 1)];
    }
}
