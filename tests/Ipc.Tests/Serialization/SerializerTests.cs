using System.Buffers;
using Ipc.Serialization;
using MessagePack;

namespace Ipc.Tests.Serialization;

public sealed class SerializerTests
{
    public sealed record Order(int Id, string Customer, decimal Total, string[] Lines, Dictionary<string, string> Tags);

    public static TheoryData<IIpcSerializer> Serializers => [new MessagePackIpcSerializer(), new SystemTextJsonIpcSerializer()];

    private static byte[] Serialize<T>(IIpcSerializer serializer, T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(buffer, value);
        return buffer.WrittenSpan.ToArray();
    }

    [Theory]
    [MemberData(nameof(Serializers))]
    public void Serialize_Record_RoundTrips(IIpcSerializer serializer)
    {
        var order = new Order(7, "Zoë ✓", 12.5m, ["a", "b"], new Dictionary<string, string> { ["k"] = "v" });

        var copy = serializer.Deserialize<Order>(Serialize(serializer, order));

        Assert.Equal(order.Id, copy.Id);
        Assert.Equal(order.Customer, copy.Customer);
        Assert.Equal(order.Total, copy.Total);
        Assert.Equal(order.Lines, copy.Lines);
        Assert.Equal(order.Tags, copy.Tags);
    }

    [Theory]
    [MemberData(nameof(Serializers))]
    public void Deserialize_MalformedInput_Throws(IIpcSerializer serializer)
    {
        var garbage = new byte[] { 0xc1, 0xff, 0x00, 0x7b, 0x22 };

        Assert.ThrowsAny<Exception>(() => serializer.Deserialize<Order>(garbage));
    }

    [Theory]
    [MemberData(nameof(Serializers))]
    public void Deserialize_Truncated_Throws(IIpcSerializer serializer)
    {
        var bytes = Serialize(serializer, new Order(1, "c", 1m, ["x"], []));

        Assert.ThrowsAny<Exception>(() => serializer.Deserialize<Order>(bytes.AsMemory(0, bytes.Length / 2)));
    }

    [Fact]
    public void MessagePack_Defaults_TreatDataAsUntrusted()
    {
        var security = MessagePackIpcSerializer.DefaultOptions.Security;

        Assert.True(security.HashCollisionResistant);
        Assert.Equal(MessagePackSecurity.UntrustedData.MaximumObjectGraphDepth, security.MaximumObjectGraphDepth);
    }

    [Fact]
    public void MessagePack_DeeplyNestedInput_IsRejected()
    {
        // 1,000 nested one-element arrays: more than UntrustedData's maximum object graph depth.
        var nested = new byte[1001];
        Array.Fill(nested, (byte)0x91);
        nested[^1] = 0x01;

        var ex = Assert.ThrowsAny<Exception>(() => new MessagePackIpcSerializer().Deserialize<object>(nested));

        Assert.Contains("depth", ex.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void MessagePack_SerializersWithDifferentResolvers_EachUseTheirOwn()
    {
        // The contractless default reads and writes plain records; the standard resolver wants attributes and refuses them.
        var contractless = new MessagePackIpcSerializer();
        var attributed = new MessagePackIpcSerializer(MessagePackSerializerOptions.Standard);
        var order = new Order(3, "c", 2m, ["l"], []);

        var bytes = Serialize(contractless, order);
        Assert.Throws<MessagePackSerializationException>(() => Serialize(attributed, order));
        Assert.Throws<MessagePackSerializationException>(() => attributed.Deserialize<Order>(bytes));

        Assert.Equal(order.Customer, contractless.Deserialize<Order>(Serialize(contractless, order)).Customer);
    }

    [Fact]
    public void MessagePack_CompressedOptions_RoundTrip()
    {
        var serializer = new MessagePackIpcSerializer(MessagePackIpcSerializer.DefaultOptions.WithCompression(MessagePackCompression.Lz4BlockArray));
        var order = new Order(9, new string('x', 500), 1m, ["a"], []);

        var bytes = Serialize(serializer, order);

        Assert.True(bytes.Length < 500, $"{bytes.Length} bytes: the body was not compressed");
        Assert.Equal(order.Customer, serializer.Deserialize<Order>(bytes).Customer);
    }

    [Theory]
    [InlineData(-1)] // null
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(255)] // the longest bin8
    [InlineData(256)]
    [InlineData(65_535)] // the longest bin16
    [InlineData(65_536)]
    public void MessagePack_ByteArray_WritesAndReadsWhatMessagePackItselfDoes(int length)
    {
        var value = length < 0 ? null : Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
        var serializer = new MessagePackIpcSerializer();

        var bytes = Serialize(serializer, value);

        Assert.Equal(MessagePackSerializer.Serialize(value, MessagePackIpcSerializer.DefaultOptions), bytes);
        Assert.Equal(value, serializer.Deserialize<byte[]?>(bytes));
        Assert.Equal(value, serializer.Deserialize<byte[]?>(MessagePackSerializer.Serialize(value, MessagePackIpcSerializer.DefaultOptions)));
    }

    [Fact]
    public void MessagePack_ByteArrayAsAnArrayOfIntegers_IsRead()
    {
        // MessagePack's formatter also reads a byte array sent as an array of small integers (as another language may).
        Assert.Equal([1, 2, 3], new MessagePackIpcSerializer().Deserialize<byte[]>(new byte[] { 0x93, 1, 2, 3 }));
    }

    [Theory]
    [InlineData(new byte[] { 0xc4, 10, 1, 2 })] // bin8 of 10 bytes, 2 there
    [InlineData(new byte[] { 0xc5, 0 })] // bin16 with half its length
    [InlineData(new byte[] { 0xc6, 0, 0, 1, 0, 7 })] // bin32 of 256 bytes, 1 there
    [InlineData(new byte[] { 0xa3, 0x61 })] // a string of 3 bytes, 1 there
    public void MessagePack_ByteArrayCutShort_Throws(byte[] bytes)
    {
        Assert.Throws<MessagePackSerializationException>(() => new MessagePackIpcSerializer().Deserialize<byte[]>(bytes));
    }

    [Fact]
    public void MessagePack_ResolverWithItsOwnByteArrayFormatter_IsUsed()
    {
        var options = MessagePackIpcSerializer.DefaultOptions.WithResolver(
            MessagePack.Resolvers.CompositeResolver.Create([new ReversedBytesFormatter()], [MessagePack.Resolvers.ContractlessStandardResolver.Instance]));
        var serializer = new MessagePackIpcSerializer(options);

        var bytes = Serialize(serializer, new byte[] { 1, 2, 3 });

        Assert.Equal(new byte[] { 0xc4, 3, 3, 2, 1 }, bytes);
        Assert.Equal([1, 2, 3], serializer.Deserialize<byte[]>(bytes));
    }

    [Fact]
    public void MessagePack_OldSpecByteArray_IsAString()
    {
        // The old specification has no bin type: MessagePack writes a byte array as a raw string there.
        var options = MessagePackIpcSerializer.DefaultOptions.WithOldSpec();
        var value = new byte[] { 1, 2, 3 };

        var bytes = Serialize(new MessagePackIpcSerializer(options), value);

        Assert.Equal(MessagePackSerializer.Serialize(value, options), bytes);
        Assert.Equal(0xa3, bytes[0]);
        Assert.Equal(value, new MessagePackIpcSerializer(options).Deserialize<byte[]>(bytes));
    }

    [Fact]
    public void ContentTypes_AreStable()
    {
        Assert.Equal("application/x-msgpack", new MessagePackIpcSerializer().ContentType);
        Assert.Equal("application/json", new SystemTextJsonIpcSerializer().ContentType);
    }

    /// <summary>Writes and reads a byte array reversed: a formatter of the app's own for a type MessagePack has one for.</summary>
    private sealed class ReversedBytesFormatter : MessagePack.Formatters.IMessagePackFormatter<byte[]?>
    {
        public void Serialize(ref MessagePackWriter writer, byte[]? value, MessagePackSerializerOptions options) =>
            writer.Write(value?.Reverse().ToArray());

        public byte[]? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) =>
            reader.ReadBytes()?.ToArray().Reverse().ToArray();
    }
}
