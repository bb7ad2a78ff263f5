namespace Ipc;

/// <summary>Header names the library itself reads or writes. Header names are case-insensitive.</summary>
public static class IpcHeaderNames
{
    /// <summary>The wire name of <see cref="IpcMessage.ContentType"/> for transports that carry it as a header.</summary>
    public const string ContentType = "content-type";

    /// <summary>The W3C trace context <c>traceparent</c> header.</summary>
    public const string TraceParent = "traceparent";

    /// <summary>The W3C trace context <c>tracestate</c> header.</summary>
    public const string TraceState = "tracestate";

    /// <summary>The W3C baggage header.</summary>
    public const string Baggage = "baggage";
}
