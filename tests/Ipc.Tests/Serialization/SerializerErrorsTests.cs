using System.Buffers;
using Ipc.Serialization;
using Ipc.Tests.Resilience;
using MessagePack;

namespace Ipc.Tests.Serialization;

/// <summary>A message type a serializer cannot handle fails with why and how to fix it.</summary>
public sealed class SerializerErrorsTests
{
    [Fact]
    public void MessagePack_InternalType_SaysToMakeItPublic()
    {
        var ex = Assert.Throws<MessagePackSerializationException>(() => new MessagePackIpcSerializer().Serialize(new ArrayBufferWriter<byte>(), new InternalAdd(1, 2)));

        Assert.StartsWith("MessagePack needs public types: make InternalAdd public.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagePack_ListOfInternalType_NamesTheInternalType()
    {
        var ex = Assert.Throws<MessagePackSerializationException>(() => new MessagePackIpcSerializer().Serialize(new ArrayBufferWriter<byte>(), new List<InternalAdd> { new(1, 2) }));

        Assert.StartsWith("MessagePack needs public types: make InternalAdd public (it is part of List<InternalAdd>).", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagePack_DeserializeInternalType_SaysToMakeItPublic()
    {
        var ex = Assert.Throws<MessagePackSerializationException>(() => new MessagePackIpcSerializer().Deserialize<InternalAdd>(new byte[] { 0x80 }));

        Assert.StartsWith("MessagePack needs public types: make InternalAdd public.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagePack_TypeWithoutPublicConstructor_SaysToAddOne()
    {
        var ex = Assert.Throws<MessagePackSerializationException>(() => new MessagePackIpcSerializer().Deserialize<NoPublicConstructor>(new byte[] { 0x80 }));

        Assert.StartsWith("MessagePack cannot create NoPublicConstructor: give it a public constructor", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_TypeWithoutUsableConstructor_SaysToAddOne()
    {
        var ex = Assert.Throws<NotSupportedException>(() => new SystemTextJsonIpcSerializer().Deserialize<NoPublicConstructor>("{\"a\":1}"u8.ToArray()));

        Assert.StartsWith("System.Text.Json cannot create NoPublicConstructor: give it a public parameterless constructor", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_InternalMessageType_ThrowsSerializationSayingHowToFix()
    {
        await using var endpoint = ScriptedEndpoint.Create();

        var ex = await Assert.ThrowsAsync<IpcException>(() => endpoint.Client.RequestAsync<InternalAdd, int>("add", new InternalAdd(1, 2)).AsTask().WaitAsync(TestSupport.Bound));

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.Contains("MessagePack needs public types: make InternalAdd public.", ex.Message, StringComparison.Ordinal);
        Assert.Empty(endpoint.Transport.Attempts);
    }

    private sealed record InternalAdd(int A, int B);

    public sealed class NoPublicConstructor
    {
        private NoPublicConstructor(int a) => A = a;

        public int A { get; }
    }
}
