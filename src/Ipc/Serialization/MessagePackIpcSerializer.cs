using System.Buffers;
using System.Buffers.Binary;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace Ipc.Serialization;

/// <summary>
/// The default serializer: MessagePack with the contractless resolver (plain classes and records need no attributes)
/// and <see cref="MessagePackSecurity.UntrustedData"/> on, because a server reads what any client sends.
/// </summary>
/// <remarks>
/// <para>
/// The contractless resolver needs public message types (and public types for their members), with a public
/// constructor; members are matched by name, so a renamed member arrives as its default value.
/// </para>
/// <para>
/// Options whose <see cref="MessagePackSerializerOptions.Security"/> is <see cref="MessagePackSecurity.TrustedData"/>
/// (MessagePack's default, as in <see cref="MessagePackSerializerOptions.Standard"/>) are read with
/// <see cref="MessagePackSecurity.UntrustedData"/> instead; any other security is used as given.
/// </para>
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

    /// <summary>MessagePack's extension type code of a body compressed with <see cref="MessagePackCompression.Lz4Block"/>.</summary>
    private const sbyte Lz4BlockTypeCode = 99;

    /// <summary>MessagePack's extension type code of a body compressed with <see cref="MessagePackCompression.Lz4BlockArray"/>.</summary>
    private const sbyte Lz4BlockArrayTypeCode = 98;

    private readonly MessagePackSerializerOptions _options;
    private int _standardBytes; // 0: not looked up yet; 1: the resolver gives MessagePack's own byte[] formatter; -1: another

    /// <summary>
    /// Creates the serializer with <paramref name="options"/>, or <see cref="DefaultOptions"/>; options with MessagePack's
    /// default security (<see cref="MessagePackSecurity.TrustedData"/>) get <see cref="MessagePackSecurity.UntrustedData"/>.
    /// </summary>
    public MessagePackIpcSerializer(MessagePackSerializerOptions? options = null)
    {
        // TrustedData is what options have when nobody chose a security; reading a peer's bytes with it lets a 12-byte LZ4
        // body allocate 1 GiB, deep nesting overflow the stack and colliding keys make a map quadratic.
        _options = options is null ? DefaultOptions
            : ReferenceEquals(options.Security, MessagePackSecurity.TrustedData) ? options.WithSecurity(MessagePackSecurity.UntrustedData)
            : options;
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

        if (typeof(T) == typeof(byte[]) && StandardBytes && _options.OldSpec != true)
        {
            WriteBinary(writer, (byte[]?)(object?)value);
            return;
        }

        var formatter = Formatter<T>(serializing: true);
        var messagePack = new MessagePackWriter(writer) { OldSpec = _options.OldSpec ?? false };
        try
        {
            formatter.Serialize(ref messagePack, value, _options);
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
            RefuseImpossibleLz4Lengths<T>(data);
            try
            {
                return MessagePackSerializer.Deserialize<T>(data, _options);
            }
            catch (Exception ex)
            {
                throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing: false), ex);
            }
        }

        if (typeof(T) == typeof(byte[]) && StandardBytes && TryReadBinary(data.Span, out var bytes))
        {
            return (T)(object?)bytes!;
        }

        var formatter = Formatter<T>(serializing: false);
        var reader = new MessagePackReader(data);
        try
        {
            return formatter.Deserialize(ref reader, _options);
        }
        catch (Exception ex)
        {
            throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing: false), ex);
        }
    }

    /// <summary>
    /// Refuses a body whose LZ4 block (or block array) declares more decompressed bytes than its compressed bytes can hold:
    /// MessagePack allocates the declared length before it decompresses, so a few bytes declaring up to
    /// <see cref="MessagePackSecurity.MaximumDecompressedSize"/> would cost that much memory.
    /// </summary>
    private static void RefuseImpossibleLz4Lengths<T>(ReadOnlyMemory<byte> data)
    {
        if (FirstImpossibleLz4Block(data) is var (declared, compressed))
        {
            throw new MessagePackSerializationException(SerializerErrors.Lz4LengthImpossible(typeof(T), declared, compressed));
        }
    }

    /// <summary>
    /// The declared and compressed lengths of the first LZ4 block in <paramref name="data"/> that declares more than LZ4 can
    /// produce from it (at most 255 bytes per compressed byte; the margin keeps any real block in); <see langword="null"/>
    /// when there is none, or the body is malformed in another way, which MessagePack reports.
    /// </summary>
    private static (long Declared, long Compressed)? FirstImpossibleLz4Block(ReadOnlyMemory<byte> data)
    {
        static bool Impossible(long declared, long compressed) => declared > (compressed * 256) + 256;

        var reader = new MessagePackReader(data);
        try
        {
            if (reader.End)
            {
                return null;
            }

            if (reader.NextMessagePackType == MessagePackType.Extension)
            {
                var header = reader.ReadExtensionFormatHeader();
                if (header.TypeCode != Lz4BlockTypeCode)
                {
                    return null;
                }

                var start = reader.Consumed;
                long declared = reader.ReadInt32();
                var compressed = header.Length - (reader.Consumed - start);
                return Impossible(declared, compressed) ? (declared, compressed) : null;
            }

            if (reader.NextMessagePackType != MessagePackType.Array)
            {
                return null;
            }

            var blocks = reader.ReadArrayHeader() - 1;
            if (blocks <= 0 || reader.NextMessagePackType != MessagePackType.Extension || reader.ReadExtensionFormatHeader().TypeCode != Lz4BlockArrayTypeCode)
            {
                return null;
            }

            var lengths = new long[blocks]; // at most one per byte of the body: ReadArrayHeader checks the count against it
            for (var i = 0; i < blocks; i++)
            {
                lengths[i] = reader.ReadInt32();
            }

            for (var i = 0; i < blocks; i++)
            {
                var compressed = reader.ReadBytes()?.Length ?? 0;
                if (Impossible(lengths[i], compressed))
                {
                    return (lengths[i], compressed);
                }
            }

            return null;
        }
        catch (Exception ex) when (ex is EndOfStreamException or MessagePackSerializationException)
        {
            return null;
        }
    }

    /// <summary>Gets a value indicating whether the resolver formats byte arrays with MessagePack's own formatter (looked up once).</summary>
    private bool StandardBytes => _standardBytes != 0 ? _standardBytes > 0 : LookUpStandardBytes();

    private bool LookUpStandardBytes()
    {
        bool standard;
        try
        {
            standard = ReferenceEquals(_options.Resolver.GetFormatter<byte[]>(), ByteArrayFormatter.Instance);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            standard = false; // the formatter's own lookup reports it on first use
        }

        _standardBytes = standard ? 1 : -1;
        return standard;
    }

    /// <summary>
    /// Writes a byte array as MessagePack's standard formatter does (nil, or the smallest bin header and the bytes), straight
    /// into <paramref name="writer"/>: byte arrays are a common payload, and for a small one the formatter's writer costs
    /// more than the bytes.
    /// </summary>
    private static void WriteBinary(IBufferWriter<byte> writer, byte[]? value)
    {
        var header = writer.GetSpan(5);
        if (value is null)
        {
            header[0] = MessagePackCode.Nil;
            writer.Advance(1);
            return;
        }

        int size;
        if (value.Length <= byte.MaxValue)
        {
            header[0] = MessagePackCode.Bin8;
            header[1] = (byte)value.Length;
            size = 2;
        }
        else if (value.Length <= ushort.MaxValue)
        {
            header[0] = MessagePackCode.Bin16;
            BinaryPrimitives.WriteUInt16BigEndian(header[1..], (ushort)value.Length);
            size = 3;
        }
        else
        {
            header[0] = MessagePackCode.Bin32;
            BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)value.Length);
            size = 5;
        }

        writer.Advance(size);
        writer.Write(value);
    }

    /// <summary>
    /// Reads a byte array written as nil or bin, as MessagePack's standard formatter reads it; <see langword="false"/> for
    /// anything else (another encoding it accepts, or bytes cut short), which goes to the formatter and its own errors.
    /// </summary>
    private static bool TryReadBinary(ReadOnlySpan<byte> data, out byte[]? value)
    {
        value = null;
        if (data.IsEmpty)
        {
            return false;
        }

        int header;
        long length;
        switch (data[0])
        {
            case MessagePackCode.Nil:
                return true;
            case MessagePackCode.Bin8 when data.Length >= 2:
                header = 2;
                length = data[1];
                break;
            case MessagePackCode.Bin16 when data.Length >= 3:
                header = 3;
                length = BinaryPrimitives.ReadUInt16BigEndian(data[1..]);
                break;
            case MessagePackCode.Bin32 when data.Length >= 5:
                header = 5;
                length = BinaryPrimitives.ReadUInt32BigEndian(data[1..]);
                break;
            default:
                return false;
        }

        if (data.Length - header < length)
        {
            return false;
        }

        value = data.Slice(header, (int)length).ToArray();
        return true;
    }

    /// <summary>
    /// The formatter of <typeparamref name="T"/> from this serializer's resolver, looked up once per type instead of on
    /// every call (compression, when on, is left to <see cref="MessagePackSerializer"/>).
    /// </summary>
    /// <remarks>A type the resolver has no formatter for fails as a serialization would, with the type's name.</remarks>
    private IMessagePackFormatter<T> Formatter<T>(bool serializing)
    {
        var cached = FormatterCache<T>.Last;
        if (cached is null || !ReferenceEquals(cached.Resolver, _options.Resolver))
        {
            IMessagePackFormatter<T> formatter;
            try
            {
                formatter = _options.Resolver.GetFormatterWithVerify<T>();
            }
            catch (Exception ex)
            {
                throw new MessagePackSerializationException(SerializerErrors.MessagePack(typeof(T), ex, serializing), ex);
            }

            cached = new FormatterCache<T>(_options.Resolver, formatter);
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
