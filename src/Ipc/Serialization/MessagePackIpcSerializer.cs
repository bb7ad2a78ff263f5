using System.Buffers;
using MessagePack;
using MessagePack.Resolvers;

namespace Ipc.Serialization;

/// <summary>
/// The default serializer: MessagePack with the contractless resolver (plain classes and records need no attributes)
/// and <see cref="MessagePackSecurity.UntrustedData"/> on, because a server reads what any client sends.
/// </summary>
public sealed class MessagePackIpcSerializer : IIpcSerializer
{
    /// <summary>The content type, <c>application/x-msgpack</c>.</summary>
    public const string MediaType = "application/x-msgpack";

    /// <summary>Gets the options used when none are given: contractless, untrusted-data security.</summary>
    public static MessagePackSerializerOptions DefaultOptions { get; } =
        MessagePackSerializerOptions.Standard
            .WithResolver(ContractlessStandardResolver.Instance)
            .WithSecurity(MessagePackSecurity.UntrustedData);

    private readonly MessagePackSerializerOptions _options;

    /// <summary>Creates the serializer with <paramref name="options"/>, or <see cref="DefaultOptions"/>.</summary>
    public MessagePackIpcSerializer(MessagePackSerializerOptions? options = null)
    {
        _options = options ?? DefaultOptions;
    }

    /// <inheritdoc />
    public string ContentType => MediaType;

    /// <inheritdoc />
    public void Serialize<T>(IBufferWriter<byte> writer, T value) => MessagePackSerializer.Serialize(writer, value, _options);

    /// <inheritdoc />
    public T Deserialize<T>(ReadOnlyMemory<byte> data) => MessagePackSerializer.Deserialize<T>(data, _options);
}
