using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Ipc.Grpc.Protocol;
using Microsoft.AspNetCore.Http;

namespace Ipc.Grpc;

/// <summary>
/// Converts between <see cref="IpcMessage"/> and the wire's <see cref="IpcEnvelope"/> and metadata. Request headers travel as
/// metadata (lower-case names; a value that is not printable ASCII as UTF-8 under <c>name-bin</c>), up to 16 KiB and 50
/// of them; a header past those, one whose name is not a valid metadata key, is one gRPC and HTTP/2 reserve, or is one
/// the client's HTTP stack would not send, travels in the envelope's map, as do the headers of responses and stream items.
/// </summary>
internal static class GrpcEnvelopes
{
    private const string BinarySuffix = "-bin";

    /// <summary>
    /// The most a request's headers may take as metadata (each counted as HPACK does: name, value and 32 bytes). Kestrel
    /// refuses more than 32 KiB of request headers in all by closing the whole connection (COMPRESSION_ERROR), failing
    /// every call on it; half of that leaves room for gRPC's own headers and an app's. The rest travel in the map.
    /// </summary>
    private const int MaxMetadataSize = 16 * 1024;

    private const int HeaderFieldOverhead = 32;

    /// <summary>
    /// The most request headers sent as metadata. Kestrel answers a request with more than 100 header fields in all
    /// (MaxRequestHeaderCount, gRPC's and HTTP/2's own included) 431, failing the call; half of that leaves room for them
    /// and an app's. The rest travel in the map.
    /// </summary>
    private const int MaxMetadataCount = 50;

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
        var size = 0;
        foreach (var (name, value) in message.Headers)
        {
            var key = name.ToLowerInvariant();
            if (!IsValidKey(key) || IsReserved(key) || IsDroppedByHttpClient(key) || key.EndsWith(BinarySuffix, StringComparison.Ordinal))
            {
                envelope.Headers[name] = value;
                continue;
            }

            var ascii = IsPrintableAscii(value);
            var bytes = ascii ? null : Encoding.UTF8.GetBytes(value);
            var fieldSize = HeaderFieldOverhead + key.Length + (ascii ? value.Length : BinarySuffix.Length + ((bytes!.Length + 2) / 3 * 4));
            if (size + fieldSize > MaxMetadataSize || metadata.Count >= MaxMetadataCount)
            {
                envelope.Headers[name] = value; // past what an HTTP/2 server takes in headers: the map carries it
            }
            else if (ascii)
            {
                size += fieldSize;
                metadata.Add(key, value);
            }
            else
            {
                size += fieldSize;
                metadata.Add(key + BinarySuffix, bytes!);
            }
        }

        return metadata;
    }

    public static IpcMessage FromEnvelope(IpcEnvelope envelope)
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

        foreach (var (name, value) in envelope.Headers)
        {
            message.Headers[name] = value;
        }

        return message;
    }

    /// <summary>
    /// A request as a server receives it: the envelope, and the request's HTTP/2 headers that are application metadata
    /// (read from the request itself, without building gRPC's metadata collection). The envelope's map wins over metadata.
    /// </summary>
    public static IpcMessage FromRequest(IpcEnvelope envelope, IHeaderDictionary headers)
    {
        var message = FromEnvelope(envelope);
        var fromMap = message.HasHeaders;
        foreach (var (key, values) in headers)
        {
            if (IsReserved(key))
            {
                continue;
            }

            var binary = key.EndsWith(BinarySuffix, StringComparison.OrdinalIgnoreCase);
            var name = binary ? key[..^BinarySuffix.Length] : key;
            if (fromMap && message.Headers.ContainsKey(name))
            {
                continue;
            }

            if (!binary)
            {
                message.Headers[name] = values.ToString();
            }
            else if (TryDecodeBase64(values.ToString(), out var bytes))
            {
                message.Headers[name] = Encoding.UTF8.GetString(bytes);
            }
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

    /// <summary>Decodes a binary metadata value: base64, padded or not (gRPC allows both).</summary>
    private static bool TryDecodeBase64(string value, out byte[] bytes)
    {
        var padded = (value.Length % 4) switch
        {
            2 => value + "==",
            3 => value + "=",
            _ => value,
        };
        try
        {
            bytes = Convert.FromBase64String(padded);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false; // not base64: dropped, as gRPC itself would refuse it
        }
    }

    /// <summary>Metadata gRPC, HTTP/2 or the HTTP stack set or read for themselves: not application headers.</summary>
    private static bool IsReserved(string key) =>
        key.Length == 0
        || key[0] == ':'
        || key.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase)
        || key.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || key.Equals("te", StringComparison.OrdinalIgnoreCase)
        || key.Equals("user-agent", StringComparison.OrdinalIgnoreCase)
        || key.Equals("host", StringComparison.OrdinalIgnoreCase)
        || key.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase)
        || key.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || key.Equals("connection", StringComparison.OrdinalIgnoreCase)
        || key.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase)
        || key.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
        || key.Equals("upgrade", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Names the client's HTTP stack does not send as request headers, so as metadata they would be lost without a word:
    /// those of a request's content (HttpRequestHeaders refuses them) and <c>proxy-connection</c> (not sent over HTTP/2).
    /// </summary>
    private static bool IsDroppedByHttpClient(string key) => key switch
    {
        "allow" or "content-disposition" or "content-encoding" or "content-language" or "content-location" or "content-md5"
            or "content-range" or "expires" or "last-modified" or "proxy-connection" => true,
        _ => false,
    };

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
