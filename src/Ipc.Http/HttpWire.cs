using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Ipc.Http;

/// <summary>
/// How an <see cref="IpcMessage"/> maps onto HTTP: header names, the rule for values that are not plain ASCII, the status
/// code of each <see cref="IpcErrorCode"/> and the <c>{ "error": { "code", "message", "details" } }</c> body.
/// </summary>
internal static class HttpWire
{
    public const string MessageIdHeader = "Ipc-Message-Id";
    public const string CorrelationIdHeader = "Ipc-Correlation-Id";
    public const string TimeoutHeader = "Ipc-Timeout";
    public const string CallHeader = "Ipc-Call";
    public const string ErrorCodeHeader = "Ipc-Error-Code";
    public const string HeaderPrefix = "Ipc-Header-";

    public const string CallRequest = "request";
    public const string CallStream = "stream";
    public const string CallSend = "send";

    public const string JsonMediaType = "application/json";
    public const string NdJsonMediaType = "application/x-ndjson";
    public const string FramesMediaType = "application/vnd.ipc.frames";
    public const string OctetStreamMediaType = "application/octet-stream";

    /// <summary>The item content type of a length-prefixed stream response.</summary>
    public const string ItemContentTypeHeader = "Ipc-Item-Content-Type";

    /// <summary>Frame kinds of a length-prefixed stream: an item, or the error that ends the stream.</summary>
    public const byte FrameItem = 0;
    public const byte FrameError = 1;

    private const string EncodedPrefix = "=?utf-8?b?";
    private const string EncodedSuffix = "?=";

    /// <summary>JSON as people read it: the body is served as application/json, never embedded in HTML, so apostrophes and non-ASCII letters stay as they are.</summary>
    public static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly string[] s_traceHeaders = [IpcHeaderNames.TraceParent, IpcHeaderNames.TraceState, IpcHeaderNames.Baggage];

    /// <summary>Gets a value indicating whether a header of the message travels under its own name (W3C trace context and baggage).</summary>
    public static bool IsTraceHeader(string name)
    {
        foreach (var header in s_traceHeaders) // a loop, not Array.Exists: no closure per header of every request
        {
            if (string.Equals(header, name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Writes a value as an HTTP header value: as it is when it is printable ASCII without spaces at its ends and does not
    /// start with <c>=?</c>; otherwise as <c>=?utf-8?b?&lt;base64 of its UTF-8&gt;?=</c> (an RFC 2047 encoded word).
    /// </summary>
    public static string EncodeValue(string value)
    {
        if (IsPlain(value))
        {
            return value;
        }

        return EncodedPrefix + Convert.ToBase64String(Encoding.UTF8.GetBytes(value)) + EncodedSuffix;
    }

    /// <summary>Reads a value written by <see cref="EncodeValue"/>; <see langword="null"/> when an encoded word is malformed.</summary>
    public static string? DecodeValue(string value)
    {
        if (!value.StartsWith(EncodedPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return value;
        }

        if (!value.EndsWith(EncodedSuffix, StringComparison.Ordinal) || value.Length < EncodedPrefix.Length + EncodedSuffix.Length)
        {
            return null;
        }

        var base64 = value.AsSpan(EncodedPrefix.Length, value.Length - EncodedPrefix.Length - EncodedSuffix.Length);
        var bytes = new byte[(base64.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(base64, bytes, out var written))
        {
            return null;
        }

        try
        {
            return new UTF8Encoding(false, true).GetString(bytes, 0, written);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Gets a value indicating whether <paramref name="name"/> is an HTTP token, so it can be part of a header name.</summary>
    public static bool IsToken(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c > 0x7E || c <= 0x20 || "\"(),/:;<=>?@[\\]{}".Contains(c, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes a time left as whole milliseconds, rounded up so that a little time left is not sent as none.</summary>
    public static string FormatTimeout(TimeSpan timeout) =>
        timeout <= TimeSpan.Zero ? "0" : ((long)Math.Ceiling(timeout.TotalMilliseconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (!long.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var milliseconds))
        {
            // A whole number too long for a long is a time left all the same: the most there is, or none when it is negative.
            if (!IsWholeNumber(value))
            {
                return false;
            }

            milliseconds = value[0] == '-' ? 0 : long.MaxValue;
        }

        timeout = milliseconds <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(milliseconds, (long)TimeSpan.FromDays(365).TotalMilliseconds));
        return true;
    }

    private static bool IsWholeNumber([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? value)
    {
        var digits = value is { Length: > 0 } && value[0] is '+' or '-' ? value.AsSpan(1) : value.AsSpan();
        return digits.Length > 0 && !digits.ContainsAnyExceptInRange('0', '9');
    }

    /// <summary>The status code of a failure.</summary>
    public static int StatusCode(IpcErrorCode code) => code switch
    {
        IpcErrorCode.Unavailable => 503,
        IpcErrorCode.Timeout => 504,
        IpcErrorCode.CircuitOpen => 503,
        IpcErrorCode.NoHandler => 404,
        IpcErrorCode.RemoteError => 500,
        IpcErrorCode.Serialization => 400,
        IpcErrorCode.MessageTooLarge => 413,
        IpcErrorCode.ProtocolError => 400,
        IpcErrorCode.Unauthorized => 401,
        IpcErrorCode.NotSupported => 501,
        IpcErrorCode.ResourceExhausted => 429,
        _ => 500,
    };

    /// <summary>The error code of a failed response without an <c>Ipc-Error-Code</c> header (from a proxy, or the app's own middleware).</summary>
    public static IpcErrorCode ErrorCode(HttpStatusCode status) => (int)status switch
    {
        401 or 403 => IpcErrorCode.Unauthorized,
        404 => IpcErrorCode.NoHandler,
        405 or 501 => IpcErrorCode.NotSupported,
        406 or 415 => IpcErrorCode.Serialization,
        408 or 504 => IpcErrorCode.Timeout,
        413 => IpcErrorCode.MessageTooLarge,
        429 => IpcErrorCode.ResourceExhausted,
        502 or 503 => IpcErrorCode.Unavailable,
        >= 300 and < 500 => IpcErrorCode.ProtocolError, // a redirect too: the client follows none
        _ => IpcErrorCode.Unknown,
    };

    /// <summary>Writes the error body of <paramref name="fault"/>.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="fault">The failure.</param>
    /// <param name="withErrorCode">Whether to add <c>"ipcErrorCode"</c> beside <c>"error"</c> (in a stream, where there is no status line left to say it).</param>
    public static void WriteError(IBufferWriter<byte> writer, IpcFault fault, bool withErrorCode)
    {
        using var json = new Utf8JsonWriter(writer, JsonOptions);
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("code", fault.Remote?.Code ?? fault.ErrorCode.ToString());
        json.WriteString("message", fault.Remote?.Message ?? fault.Message);
        json.WriteStartObject("details");
        if (fault.Remote?.Details is { } details)
        {
            foreach (var (key, value) in details)
            {
                json.WriteString(key, value);
            }
        }

        json.WriteEndObject();
        json.WriteEndObject();
        if (withErrorCode)
        {
            json.WriteString("ipcErrorCode", fault.ErrorCode.ToString());
        }

        json.WriteEndObject();
    }

    /// <summary>Reads an error body; <see langword="null"/> when the body is not one.</summary>
    public static IpcFault? ReadError(ReadOnlySpan<byte> body, IpcErrorCode? code)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (code is null && root.TryGetProperty("ipcErrorCode", out var ipcCode) && ipcCode.ValueKind == JsonValueKind.String && TryParseCode(ipcCode.GetString(), out var parsed))
            {
                code = parsed;
            }

            var errorCode = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "UNKNOWN";
            var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : string.Empty;
            Dictionary<string, string>? details = null;
            if (error.TryGetProperty("details", out var d) && d.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in d.EnumerateObject())
                {
                    (details ??= new Dictionary<string, string>(StringComparer.Ordinal))[property.Name] =
                        property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
                }
            }

            var resolved = code ?? (TryParseCode(errorCode, out var named) ? named : IpcErrorCode.RemoteError);
            return resolved == IpcErrorCode.RemoteError
                ? new IpcFault(IpcErrorCode.RemoteError, message, new IpcRemoteError(errorCode, message, details))
                : new IpcFault(resolved, message);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads the name of an <see cref="IpcErrorCode"/>, exactly as <see cref="Enum.ToString()"/> writes it: not a number
    /// (which <see cref="Enum.TryParse{TEnum}(string?, out TEnum)"/> takes, defined or not) nor a list of names (which it combines).
    /// </summary>
    public static bool TryParseCode(string? value, out IpcErrorCode code) =>
        Enum.TryParse(value, out code) && Enum.IsDefined(code) && string.Equals(code.ToString(), value, StringComparison.Ordinal);

    private static bool IsPlain(string value)
    {
        if (value.Length > 0 && (value[0] == ' ' || value[^1] == ' ' || value.StartsWith("=?", StringComparison.Ordinal)))
        {
            return false;
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
