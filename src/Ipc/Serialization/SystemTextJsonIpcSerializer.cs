using System.Buffers;
using System.Text.Json;

namespace Ipc.Serialization;

/// <summary>A System.Text.Json serializer (web defaults: camelCase names, case-insensitive reads).</summary>
public sealed class SystemTextJsonIpcSerializer : IIpcSerializer
{
    /// <summary>The content type, <c>application/json</c>.</summary>
    public const string MediaType = "application/json";

    private readonly JsonSerializerOptions _options;

    /// <summary>Creates the serializer with <paramref name="options"/>, or <see cref="JsonSerializerDefaults.Web"/>.</summary>
    /// <remarks>
    /// The serializer uses a copy of <paramref name="options"/> (changes made to them later do not reach it), which reads
    /// dictionaries and sets keyed by a value type (an integer, an enum, <see cref="Guid"/>, <see cref="double"/>,
    /// <see cref="DateTime"/> and the like) with comparers whose hash a peer cannot predict, so a body of colliding keys
    /// cannot make reading it slow.
    /// </remarks>
    public SystemTextJsonIpcSerializer(JsonSerializerOptions? options = null)
    {
        _options = JsonCollisionResistance.Apply(options ?? new JsonSerializerOptions(JsonSerializerDefaults.Web));
    }

    /// <inheritdoc />
    public string ContentType => MediaType;

    /// <inheritdoc />
    public void Serialize<T>(IBufferWriter<byte> writer, T value)
    {
        using var json = new Utf8JsonWriter(writer);
        JsonSerializer.Serialize(json, value, _options);
    }

    /// <inheritdoc />
    public T Deserialize<T>(ReadOnlyMemory<byte> data)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(data.Span, _options)!;
        }
        catch (NotSupportedException ex) when (ex is not JsonCollisionResistance.NoComparerConstructorException
            && ex.InnerException is not JsonCollisionResistance.NoComparerConstructorException)
        {
            throw new NotSupportedException(SerializerErrors.JsonCannotCreate(typeof(T), ex), ex);
        }
    }
}
