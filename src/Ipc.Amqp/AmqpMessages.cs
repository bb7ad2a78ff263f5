using System.Globalization;
using System.Text;
using RabbitMQ.Client;

namespace Ipc.Amqp;

/// <summary>
/// Maps an <see cref="IpcMessage"/> to AMQP properties and back: <c>type</c> is the route, <c>message_id</c>,
/// <c>content_type</c> and <c>expiration</c> (the time a message has left) are the standard properties, and the message's
/// headers (the W3C trace context among them) are AMQP headers. A response's fault travels in <c>ipc-error*</c> headers.
/// </summary>
internal static class AmqpMessages
{
    public const string CorrelationIdHeader = "ipc-correlation-id";
    public const string ErrorHeader = "ipc-error";
    public const string ErrorMessageHeader = "ipc-error-message";
    public const string RemoteCodeHeader = "ipc-remote-code";
    public const string RemoteMessageHeader = "ipc-remote-message";
    public const string RemoteDetailPrefix = "ipc-remote-detail.";
    public const string DeliveriesHeader = "ipc-deliveries";
    public const string OriginalQueueHeader = "ipc-original-queue";

    /// <summary>
    /// The header a message with a deadline carries it in: milliseconds since the Unix epoch, by the sender's clock. The
    /// broker does not count <c>expiration</c> down, so the receiver needs it to know the time spent in the queue.
    /// </summary>
    public const string DeadlineHeader = "ipc-deadline";

    /// <summary>The header quorum queues count returned deliveries in.</summary>
    public const string BrokerDeliveryCountHeader = "x-delivery-count";

    /// <summary>
    /// Returns what of <paramref name="message"/> AMQP cannot carry, or <see langword="null"/> when it can: its message id,
    /// route (the <c>type</c> property), correlation id and header names go as short strings, 255 bytes of UTF-8 at most.
    /// </summary>
    public static string? WhyNotCarried(IpcMessage message)
    {
        if (TooLong(message.MessageId) is { } id)
        {
            return $"its message id is {id} bytes";
        }

        if (TooLong(message.Route) is { } route)
        {
            return $"its route is {route} bytes";
        }

        if (message.CorrelationId != message.MessageId && TooLong(message.CorrelationId) is { } correlation)
        {
            return $"its correlation id is {correlation} bytes";
        }

        if (message.HasHeaders)
        {
            foreach (var (name, _) in message.Headers)
            {
                if (TooLong(name) is { } header)
                {
                    return $"the name of its header '{name[..Math.Min(name.Length, 40)]}...' is {header} bytes";
                }
            }
        }

        return null;

        static int? TooLong(string? text) =>
            text is not null && text.Length > 255 / 3 && Encoding.UTF8.GetByteCount(text) is var bytes && bytes > 255 ? bytes : null;
    }

    /// <summary>Properties of a message going to a server: a request (<paramref name="callId"/> set) or a one-way or published message.</summary>
    /// <param name="message">The message.</param>
    /// <param name="callId">The call id of a request; <see langword="null"/> for a one-way or published message.</param>
    /// <param name="persistent">Whether the broker is to keep the message on disk.</param>
    /// <param name="deadline">
    /// The message's deadline (<see cref="DeadlineHeader"/>), in milliseconds since the Unix epoch; sent only with a
    /// <see cref="IpcMessage.Timeout"/>, which goes as <c>expiration</c>.
    /// </param>
    public static BasicProperties ToProperties(IpcMessage message, string? callId, bool persistent, long? deadline = null)
    {
        var properties = new BasicProperties
        {
            MessageId = message.MessageId,
            Type = message.Route,
            ContentType = message.ContentType,
            DeliveryMode = persistent ? DeliveryModes.Persistent : DeliveryModes.Transient,
        };
        if (message.Timeout is { } timeout)
        {
            properties.Expiration = Expiration(timeout);
        }

        // The message's own correlation id travels only where the receiver cannot tell it: a request's in the
        // ipc-correlation-id header (correlation_id holds the call id, which an Ipc client makes new for every attempt),
        // and a one-way message's in correlation_id unless it is the message id.
        var correlationHeader = false;
        if (callId is not null)
        {
            properties.CorrelationId = callId;
            properties.ReplyTo = AmqpTopology.DirectReplyTo;
            correlationHeader = message.CorrelationId is not null && message.CorrelationId != callId;
        }
        else if (message.CorrelationId != message.MessageId)
        {
            properties.CorrelationId = message.CorrelationId;
        }

        var deadlineHeader = deadline is not null && message.Timeout is not null;
        if (message.HasHeaders || correlationHeader || deadlineHeader)
        {
            var headers = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (message.HasHeaders)
            {
                foreach (var (name, value) in message.Headers)
                {
                    headers[name] = Encoding.UTF8.GetBytes(value);
                }
            }

            if (correlationHeader)
            {
                headers[CorrelationIdHeader] = Encoding.UTF8.GetBytes(message.CorrelationId!);
            }

            if (deadlineHeader)
            {
                headers[DeadlineHeader] = deadline!.Value;
            }

            properties.Headers = headers;
        }

        return properties;
    }

    /// <summary>
    /// Properties of a response to a request whose AMQP correlation id was <paramref name="callId"/>; the response's own
    /// correlation id travels only when it is not the request's (<paramref name="requestCorrelationId"/>).
    /// </summary>
    public static BasicProperties ToReplyProperties(IpcMessage response, string? callId, string? requestCorrelationId)
    {
        var properties = new BasicProperties
        {
            MessageId = response.MessageId,
            Type = response.Route,
            ContentType = response.ContentType,
            CorrelationId = callId,
            DeliveryMode = DeliveryModes.Transient,
        };
        Dictionary<string, object?>? headers = null;
        if (response.HasHeaders)
        {
            headers = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (name, value) in response.Headers)
            {
                headers[name] = Encoding.UTF8.GetBytes(value);
            }
        }

        if (response.CorrelationId is not null && response.CorrelationId != requestCorrelationId)
        {
            (headers ??= new(StringComparer.Ordinal))[CorrelationIdHeader] = Encoding.UTF8.GetBytes(response.CorrelationId);
        }

        if (response.Fault is { } fault)
        {
            headers ??= new(StringComparer.Ordinal);
            headers[ErrorHeader] = Encoding.UTF8.GetBytes(fault.ErrorCode.ToString());
            headers[ErrorMessageHeader] = Encoding.UTF8.GetBytes(fault.Message);
            if (fault.Remote is { } remote)
            {
                headers[RemoteCodeHeader] = Encoding.UTF8.GetBytes(remote.Code);
                headers[RemoteMessageHeader] = Encoding.UTF8.GetBytes(remote.Message);
                if (remote.Details is not null)
                {
                    foreach (var (key, value) in remote.Details)
                    {
                        headers[RemoteDetailPrefix + key] = Encoding.UTF8.GetBytes(value);
                    }
                }
            }
        }

        properties.Headers = headers;
        return properties;
    }

    /// <summary>Reads a message that arrived from the broker; the body is copied, as the client reuses its buffer.</summary>
    /// <param name="properties">The delivery's properties.</param>
    /// <param name="body">The delivery's body.</param>
    /// <param name="fallbackRoute">The route when the <c>type</c> property is missing.</param>
    /// <param name="isRequest">Whether the AMQP correlation id is the caller's call id (a request) rather than the message's own correlation id.</param>
    /// <param name="now">
    /// The receiver's time, in milliseconds since the Unix epoch, to count the time the message has left from its
    /// <see cref="DeadlineHeader"/> (see <see cref="Remaining"/>); <see langword="null"/> takes <c>expiration</c> alone.
    /// </param>
    public static IpcMessage FromDelivery(IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, string fallbackRoute, bool isRequest, long? now = null)
    {
        var message = new IpcMessage(properties.Type is { Length: > 0 } type ? type : fallbackRoute, body.ToArray())
        {
            ContentType = properties.ContentType,
        };
        if (properties.MessageId is { Length: > 0 } messageId)
        {
            message.MessageId = messageId;
        }

        if (Remaining(properties, now) is { } remaining)
        {
            message.Timeout = TimeSpan.FromMilliseconds(remaining);
        }

        if (!isRequest)
        {
            message.CorrelationId = properties.CorrelationId ?? message.MessageId;
        }

        if (properties.Headers is { Count: > 0 } headers)
        {
            foreach (var (name, value) in headers)
            {
                if (name == CorrelationIdHeader)
                {
                    message.CorrelationId = Text(value);
                }
                else if (name.Length > 0 && !IsTransportHeader(name) && Text(value) is { } text) // AMQP allows an empty name; IpcHeaders does not
                {
                    message.Headers[name] = text;
                }
            }
        }

        if (isRequest && message.CorrelationId is null && properties.CorrelationId is { } foreign)
        {
            message.CorrelationId = foreign; // a plain AMQP client's correlation id: the conversation is the call
        }

        return message;
    }

    /// <summary>Reads a response: its body, headers and fault; its correlation id is the request's unless a header says otherwise.</summary>
    public static IpcMessage FromReply(IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, string route, string? requestCorrelationId)
    {
        var response = FromDelivery(properties, body, route, isRequest: false);
        var headers = properties.Headers;
        response.CorrelationId = Header(headers, CorrelationIdHeader) ?? requestCorrelationId;
        if (headers is null)
        {
            return response;
        }

        if (Header(headers, ErrorHeader) is { } code)
        {
            var errorCode = Enum.TryParse<IpcErrorCode>(code, out var parsed) ? parsed : IpcErrorCode.Unknown;
            IpcRemoteError? remote = null;
            if (Header(headers, RemoteCodeHeader) is { } remoteCode)
            {
                Dictionary<string, string>? details = null;
                foreach (var (name, value) in headers)
                {
                    if (name.StartsWith(RemoteDetailPrefix, StringComparison.Ordinal) && Text(value) is { } text)
                    {
                        (details ??= new(StringComparer.Ordinal))[name[RemoteDetailPrefix.Length..]] = text;
                    }
                }

                remote = new IpcRemoteError(remoteCode, Header(headers, RemoteMessageHeader) ?? string.Empty, details);
            }

            response.Fault = new IpcFault(errorCode, Header(headers, ErrorMessageHeader) ?? code, remote);
        }

        return response;
    }

    /// <summary>
    /// The milliseconds a delivered message has left, or <see langword="null"/> when it has no deadline: the smaller of
    /// its <c>expiration</c> (the time it had left when it was sent: the broker does not count it down while the message
    /// waits in its queue) and the time from <paramref name="now"/> to its <see cref="DeadlineHeader"/> (by the sender's
    /// clock), either alone when the other is missing; zero or less when the deadline has passed.
    /// </summary>
    /// <remarks>
    /// A receiver whose clock is ahead of the sender's sees that much less time left; one behind never sees more than
    /// the expiration. A deadline header that is not an integer field is ignored.
    /// </remarks>
    public static long? Remaining(IReadOnlyBasicProperties properties, long? now)
    {
        long? remaining = null;
        if (properties.Expiration is { Length: > 0 } expiration && long.TryParse(expiration, NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds))
        {
            remaining = Math.Min(milliseconds, int.MaxValue);
        }

        if (now is { } at && properties.Headers is { } headers && headers.TryGetValue(DeadlineHeader, out var value) && value is long or int or uint or short or byte)
        {
            // Clamped before subtracting, so no value a sender puts there overflows.
            var deadline = Convert.ToInt64(value, CultureInfo.InvariantCulture);
            var left = Math.Clamp(deadline, at - int.MaxValue, at + int.MaxValue) - at;
            remaining = remaining is { } fromExpiration ? Math.Min(fromExpiration, left) : left;
        }

        return remaining;
    }

    /// <summary>The deadline of a message with <paramref name="timeout"/> left at <paramref name="now"/>, in milliseconds since the Unix epoch (as <see cref="Expiration"/> rounds it: up).</summary>
    public static long Deadline(DateTimeOffset now, TimeSpan timeout) => now.ToUnixTimeMilliseconds() + ExpirationMilliseconds(timeout);

    /// <summary>Reads a header as text (AMQP long strings arrive as bytes).</summary>
    public static string? Header(IDictionary<string, object?>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value) ? Text(value) : null;

    /// <summary>
    /// The deliveries of a one-way or published message so far, this one included: those before it was last published
    /// (<c>ipc-deliveries</c>, which a server sets when it publishes a message again) plus the broker's returns of it since
    /// (a quorum queue's <c>x-delivery-count</c>), plus one. A publisher may set either header to anything: a count below
    /// zero counts as none, and each is taken as at most <see cref="int.MaxValue"/>.
    /// </summary>
    public static long Deliveries(IDictionary<string, object?>? headers) =>
        Math.Clamp(HeaderNumber(headers, DeliveriesHeader), 0, int.MaxValue)
        + Math.Clamp(HeaderNumber(headers, BrokerDeliveryCountHeader), 0, int.MaxValue)
        + 1;

    /// <summary>Reads a header as a number.</summary>
    public static long HeaderNumber(IDictionary<string, object?>? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value) && value is not null
            ? value switch
            {
                int i => i,
                long l => l,
                short s => s,
                byte b => b,
                uint u => u,
                _ => long.TryParse(Text(value), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0,
            }
            : 0;

    /// <summary>The <c>expiration</c> of a message with <paramref name="timeout"/> left: whole milliseconds, at least 1.</summary>
    public static string Expiration(TimeSpan timeout) => ExpirationMilliseconds(timeout).ToString(CultureInfo.InvariantCulture);

    private static long ExpirationMilliseconds(TimeSpan timeout) => (long)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, int.MaxValue);

    /// <summary>
    /// Headers of this transport (<c>ipc-</c>), of the broker (delivery count, dead-lettering) and of RabbitMQ.Client (the
    /// publish sequence number it adds to every message sent with confirmations tracked), not handed to handlers.
    /// </summary>
    private static bool IsTransportHeader(string name) =>
        name.StartsWith("ipc-", StringComparison.Ordinal)
        || name == BrokerDeliveryCountHeader
        || name == RabbitMQ.Client.Constants.PublishSequenceNumberHeader
        || name.StartsWith("x-death", StringComparison.Ordinal)
        || name.StartsWith("x-first-death", StringComparison.Ordinal)
        || name.StartsWith("x-last-death", StringComparison.Ordinal);

    private static string? Text(object? value) => value switch
    {
        null => null,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        string s => s,
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
