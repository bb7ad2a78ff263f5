using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Ipc.Grpc.Protocol;

namespace Ipc.Grpc;

/// <summary>
/// Converts between <see cref="IpcMessage"/> and the wire's <see cref="IpcEnvelope"/> and metadata. Request headers travel as
/// metadata (lower-case names; a value that is not printable ASCII as UTF-8 under <c>name-bin</c>); a header whose name is
/// not a valid metadata key, or is one gRPC and HTTP/2 reserve, travels in the envelope's map, as do the headers of
/// responses and stream items.
/// </summary>
internal static class GrpcEnvelopes
{
    private const string BinarySuffix = "-bin";

    public static IpcEnvelope ToEnvelope(IpcMessage message)
    {
        var envelope = new IpcEnvelope
        {
            Route = message.Route,
            MessageId = message.MessageId,
            Body = UnsafeByteOperations.UnsafeWrap(message.Body),
        };
        if (message.CorrelationId is { } correlationId)
        {
            envelope.CorrelationId = correlationId;
        }

        if (message.ContentType is { } contentType)
        {
            envelope.ContentType = contentType;
        }

        return envelope;
    }

    /// <summary>A response or stream item: every header in the envelope's map.</summary>
    public static IpcEnvelope ToReplyEnvelope(IpcMessage message)
    {
        var envelope = ToEnvelope(message);
        if (message.HasHeaders)
        {
            foreach (var (name, value) in message.Headers)
            {
                envelope.Headers[name] = value;
            }
        }

        return envelope;
    }

    /// <summary>A request: headers as metadata where they can be, the rest in the envelope's map; <see langword="null"/> when there are none.</summary>
    public static Metadata? ToMetadata(IpcMessage message, IpcEnvelope envelope)
    {
        if (!message.HasHeaders)
        {
            return null;
        }

        var metadata = new Metadata();
        foreach (var (name, value) in message.Headers)
        {
            var key = name.ToLowerInvariant();
            if (!IsValidKey(key) || IsReserved(key) || key.EndsWith(BinarySuffix, StringComparison.Ordinal))
            {
                envelope.Headers[name] = value;
            }
            else if (IsPrintableAscii(value))
            {
                metadata.Add(key, value);
            }
            else
            {
                metadata.Add(key + BinarySuffix, Encoding.UTF8.GetBytes(value));
            }
        }

        return metadata;
    }

    public static IpcMessage FromEnvelope(IpcEnvelope envelope, Metadata? metadata = null)
    {
        var message = new IpcMessage(envelope.Route, envelope.Body.Memory);
        if (envelope.MessageId.Length > 0)
        {
            message.MessageId = envelope.MessageId;
        }

        if (envelope.CorrelationId.Length > 0)
        {
            message.CorrelationId = envelope.CorrelationId;
        }

        if (envelope.ContentType.Length > 0)
        {
            message.ContentType = envelope.ContentType;
        }

        if (metadata is not null)
        {
            foreach (var entry in metadata)
            {
                var key = entry.Key;
                if (IsReserved(key))
                {
                    continue;
                }

                if (entry.IsBinary)
                {
                    message.Headers[key[..^BinarySuffix.Length]] = Encoding.UTF8.GetString(entry.ValueBytes);
                }
                else
                {
                    message.Headers[key] = entry.Value;
                }
            }
        }

        foreach (var (name, value) in envelope.Headers)
        {
            message.Headers[name] = value;
        }

        return message;
    }

    /// <summary>Reads a <c>grpc-timeout</c> header: at most 8 digits and a unit (H, M, S, m, u, n).</summary>
    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is null || value.Length is < 2 or > 9 || !long.TryParse(value.AsSpan(0, value.Length - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        long? ticks = value[^1] switch
        {
            'H' => amount * TimeSpan.TicksPerHour,
            'M' => amount * TimeSpan.TicksPerMinute,
            'S' => amount * TimeSpan.TicksPerSecond,
            'm' => amount * TimeSpan.TicksPerMillisecond,
            'u' => amount * 10,
            'n' => amount / 100,
            _ => null,
        };
        if (ticks is not { } t)
        {
            return false;
        }

        timeout = TimeSpan.FromTicks(t);
        return true;
    }

    /// <summary>Metadata gRPC, HTTP/2 or the HTTP stack set or read for themselves: not application headers.</summary>
    private static bool IsReserved(string key) =>
        key.Length == 0
        || key[0] == ':'
        || key.StartsWith("grpc-", StringComparison.Ordinal)
        || key is "content-type" or "te" or "user-agent" or "host" or "accept-encoding" or "content-length" or "connection" or "transfer-encoding" or "keep-alive" or "upgrade";

    private static bool IsValidKey(string key)
    {
        foreach (var c in key)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.'))
            {
                return false;
            }
        }

        return key.Length > 0;
    }

    private static bool IsPrintableAscii(string value)
    {
        if (value.Length > 0 && (value[0] == ' ' || value[^1] == ' '))
        {
            return false; // HTTP trims the spaces around a value; the -bin form keeps them
        }

        foreach (var c in value)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }
}
