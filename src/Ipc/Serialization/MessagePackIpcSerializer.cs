using System.Buffers;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace Ipc.Serialization;

/// <summary>
/// The default serializer: MessagePack with the contractless resolver (plain classes and records need no attributes)
/// and <see cref="MessagePackSecurity.UntrustedData"/> on, because a server reads what any client sends.
/// </summary>
/// <remarks>
/// The contractless resolver needs public message types (and public types for their members), with a public
/// constructor; members are matched by name, so a renamed member arrives as its default value.
/// </remarks>
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
    public void Serialize<T>(IBufferWriter<byte> writer, T value)
    {
        if (_options.Compression != MessagePackCompression.None)
        {
            try
            {
                MessagePackSerializer.Serialize(writer, value, _options);
            }
            catch (Exception ex)
            {
                throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing: true), ex);
            }

            return;
        }

        var messagePack = new MessagePackWriter(writer) { OldSpec = _options.OldSpec ?? false };
        try
        {
            Formatter<T>().Serialize(ref messagePack, value, _options);
        }
        catch (Exception ex)
        {
            throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing: true), ex);
        }

        messagePack.Flush();
    }

    /// <inheritdoc />
    public T Deserialize<T>(ReadOnlyMemory<byte> data)
    {
        if (_options.Compression != MessagePackCompression.None)
        {
            try
            {
                return MessagePackSerializer.Deserialize<T>(data, _options);
            }
            catch (Exception ex)
            {
                throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing: false), ex);
            }
        }

        var reader = new MessagePackReader(data);
        try
        {
            return Formatter<T>().Deserialize(ref reader, _options);
        }
        catch (Exception ex)
        {
            throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing: false), ex);
        }
    }

    /// <summary>
    /// The formatter of <typeparamref name="T"/> from this serializer's resolver, looked up once per type instead of on
    /// every call (compression, when on, is left to <see cref="MessagePackSerializer"/>).
    /// </summary>
    private IMessagePackFormatter<T> Formatter<T>()
    {
        var cached = FormatterCache<T>.Last;
        if (cached is null || !ReferenceEquals(cached.Resolver, _options.Resolver))
        {
            cached = new FormatterCache<T>(_options.Resolver, _options.Resolver.GetFormatterWithVerify<T>());
            FormatterCache<T>.Last = cached;
        }

        return cached.Formatter;
    }

    /// <summary>The last resolver asked for <typeparamref name="T"/> and its answer; one object, so a reader never sees a mixed pair.</summary>
    private sealed class FormatterCache<T>(IFormatterResolver resolver, IMessagePackFormatter<T> formatter)
    {
        public static FormatterCache<T>? Last;

        public IFormatterResolver Resolver { get; } = resolver;

        public IMessagePackFormatter<T> Formatter { get; } = formatter;
    }
}
