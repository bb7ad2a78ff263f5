using System.Buffers;
using System.Collections.Concurrent;
using System.Reflection;

namespace Ipc.Http;

/// <summary>
/// Turns bodies between the endpoint's own serializer and JSON through the route's message type, so a person can call a
/// MessagePack endpoint with JSON and read JSON back. When the endpoint's serializer is JSON itself, nothing is turned.
/// </summary>
internal sealed class BodyTranscoder(IIpcSerializer native, IIpcSerializer json)
{
    private static readonly MethodInfo s_transcode = typeof(BodyTranscoder).GetMethod(nameof(Transcode), BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly ConcurrentDictionary<Type, Func<IIpcSerializer, IIpcSerializer, ReadOnlyMemory<byte>, ReadOnlyMemory<byte>>> _transcoders = new();

    public IIpcSerializer Native => native;

    public bool NativeIsJson { get; } = IsJson(native.ContentType);

    public static bool IsJson(string? mediaType) =>
        mediaType is not null
        && (string.Equals(mediaType, HttpWire.JsonMediaType, StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    /// <summary>Reads a JSON body as <paramref name="type"/> and writes it with the endpoint's serializer.</summary>
    public ReadOnlyMemory<byte> FromJson(Type type, ReadOnlyMemory<byte> body) =>
        NativeIsJson ? body : Get(type)(json, native, body);

    /// <summary>Reads a body of the endpoint's serializer as <paramref name="type"/> and writes it as JSON.</summary>
    public ReadOnlyMemory<byte> ToJson(Type type, ReadOnlyMemory<byte> body) =>
        NativeIsJson ? body : Get(type)(native, json, body);

    private Func<IIpcSerializer, IIpcSerializer, ReadOnlyMemory<byte>, ReadOnlyMemory<byte>> Get(Type type) =>
        _transcoders.GetOrAdd(type, static t => s_transcode.MakeGenericMethod(t).CreateDelegate<Func<IIpcSerializer, IIpcSerializer, ReadOnlyMemory<byte>, ReadOnlyMemory<byte>>>());

    private static ReadOnlyMemory<byte> Transcode<T>(IIpcSerializer from, IIpcSerializer to, ReadOnlyMemory<byte> body)
    {
        var value = from.Deserialize<T>(body);
        var buffer = new ArrayBufferWriter<byte>(Math.Max(256, body.Length * 2));
        to.Serialize(buffer, value);
        return buffer.WrittenMemory;
    }
}
