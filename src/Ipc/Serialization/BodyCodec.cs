using System.Buffers;

namespace Ipc.Serialization;

/// <summary>Runs a serializer and turns its failures into <see cref="IpcErrorCode.Serialization"/>.</summary>
internal static class BodyCodec
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_writer;

    public static ReadOnlyMemory<byte> Encode<T>(IIpcSerializer serializer, T value, string route)
    {
        var writer = t_writer ??= new ArrayBufferWriter<byte>(256);
        writer.ResetWrittenCount();
        try
        {
            if (serializer is MessagePackIpcSerializer messagePack)
            {
                messagePack.Serialize(writer, value); // the default serializer's own type: a direct call, not a generic interface dispatch
            }
            else
            {
                serializer.Serialize(writer, value);
            }
        }
        catch (Exception ex)
        {
            throw new IpcException(
                IpcErrorCode.Serialization,
                $"A {SerializerErrors.Name(typeof(T))} for route '{route}' could not be serialized with {serializer.ContentType}: {ex.Message}",
                ex);
        }

        var body = writer.WrittenSpan.ToArray();
        if (writer.Capacity > 1024 * 1024)
        {
            t_writer = null; // do not keep a large buffer alive per thread
        }

        return body;
    }

    public static T Decode<T>(IIpcSerializer serializer, IpcMessage message, string side)
    {
        if (message.ContentType is { } contentType
            && !string.Equals(contentType, serializer.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            throw new IpcException(
                IpcErrorCode.Serialization,
                $"The {side} on route '{message.Route}' is {contentType}, but this side reads {serializer.ContentType}. Configure the same Serializer on client and server.");
        }

        try
        {
            return serializer is MessagePackIpcSerializer messagePack ? messagePack.Deserialize<T>(message.Body) : serializer.Deserialize<T>(message.Body);
        }
        catch (Exception ex)
        {
            throw new IpcException(
                IpcErrorCode.Serialization,
                $"The {side} on route '{message.Route}' could not be read as {SerializerErrors.Name(typeof(T))} with {serializer.ContentType}: {ex.Message} Check that both sides use the same message type.",
                ex);
        }
    }
}
