using System.Buffers;

namespace Ipc;

/// <summary>
/// Turns typed messages into bodies and back. The runtime ships MessagePack (the default) and System.Text.Json.
/// </summary>
/// <remarks>Implementations must be thread-safe. Exceptions they throw reach callers as <see cref="IpcErrorCode.Serialization"/>.</remarks>
public interface IIpcSerializer
{
    /// <summary>Gets the content type written into the <c>content-type</c> header (for example <c>application/x-msgpack</c>).</summary>
    string ContentType { get; }

    /// <summary>Writes <paramref name="value"/> to <paramref name="writer"/>.</summary>
    void Serialize<T>(IBufferWriter<byte> writer, T value);

    /// <summary>Reads a <typeparamref name="T"/> from <paramref name="data"/>.</summary>
    T Deserialize<T>(ReadOnlyMemory<byte> data);
}
