using System.Buffers;
using System.Runtime.CompilerServices;

namespace Ipc;

/// <summary>
/// Turns the typed calls of <see cref="DelegatingChannel"/> and <see cref="DelegatingRequestClient"/> into raw ones, with
/// the serializer of the client they decorate, so a decorator that overrides a raw method sees every call.
/// </summary>
internal static class TypedCalls
{
    /// <summary>The serializer a decorated client offers through <c>GetService</c>; <see langword="null"/> when it has none (a mock).</summary>
    public static IIpcSerializer? SerializerOf(Func<Type, object?, object?> getService) => getService(typeof(IIpcSerializer), null) as IIpcSerializer;

    public static IpcMessage CreateMessage<T>(IIpcSerializer serializer, string route, T value, IpcCallOptions? options)
    {
        ArgumentNullException.ThrowIfNull(route);
        var writer = new ArrayBufferWriter<byte>(256);
        try
        {
            serializer.Serialize(writer, value);
        }
        catch (Exception ex)
        {
            throw new IpcException(IpcErrorCode.Serialization, $"A {typeof(T).Name} for route '{route}' could not be serialized with {serializer.ContentType}: {ex.Message}", ex);
        }

        var message = new IpcMessage(route, writer.WrittenMemory) { ContentType = serializer.ContentType, CallOptions = options };
        if (options is not null)
        {
            if (options.MessageId is { } messageId)
            {
                message.MessageId = messageId;
            }

            message.CorrelationId = options.CorrelationId;
            if (options.Headers is { } headers)
            {
                foreach (var (name, headerValue) in headers)
                {
                    message.Headers[name] = headerValue;
                }
            }
        }

        return message;
    }

    public static List<IpcMessage> CreateBatch<T>(IIpcSerializer serializer, string route, IEnumerable<T> values, IpcCallOptions? options)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(values);
        if (options?.MessageId is not null)
        {
            throw new ArgumentException(
                "IpcCallOptions.MessageId names one message, and every message of a batch gets an id of its own. Leave MessageId unset for SendBatchAsync, or send that message with SendAsync.",
                nameof(options));
        }

        var batch = new List<IpcMessage>(values.TryGetNonEnumeratedCount(out var count) ? count : 16);
        foreach (var value in values)
        {
            batch.Add(CreateMessage(serializer, route, value, options));
        }

        return batch;
    }

    public static T Decode<T>(IIpcSerializer serializer, IpcMessage message, string side)
    {
        if (message.ContentType is { } contentType && !string.Equals(contentType, serializer.ContentType, StringComparison.OrdinalIgnoreCase))
        {
            throw new IpcException(
                IpcErrorCode.Serialization,
                $"The {side} on route '{message.Route}' is {contentType}, but this side reads {serializer.ContentType}. Configure the same Serializer on client and server.");
        }

        try
        {
            return serializer.Deserialize<T>(message.Body);
        }
        catch (Exception ex)
        {
            throw new IpcException(
                IpcErrorCode.Serialization,
                $"The {side} on route '{message.Route}' could not be read as {typeof(T).Name} with {serializer.ContentType}: {ex.Message} Check that both sides use the same message type.",
                ex);
        }
    }

    public static async ValueTask<T> DecodeAsync<T>(IIpcSerializer serializer, ValueTask<IpcMessage> response) =>
        Decode<T>(serializer, await response.ConfigureAwait(false), "response");

    public static async IAsyncEnumerable<TResponse> StreamAsync<TRequest, TResponse>(
        IIpcSerializer serializer,
        Func<IpcMessage, CancellationToken, IAsyncEnumerable<IpcMessage>> stream,
        string route,
        TRequest request,
        IpcCallOptions? options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var message = CreateMessage(serializer, route, request, options);
        await foreach (var item in stream(message, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return Decode<TResponse>(serializer, item, "stream item");
        }
    }
}
