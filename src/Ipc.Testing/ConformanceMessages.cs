namespace Ipc.Testing;

/// <summary>Two numbers to add.</summary>
public sealed record AddRequest(int A, int B);

/// <summary>A sum.</summary>
public sealed record AddResponse(int Sum);

/// <summary>An opaque payload.</summary>
public sealed record Payload(byte[] Data);

/// <summary>What a handler saw of the call: its headers, message id, correlation id, trace, the time it had left when sent, and who sent it.</summary>
public sealed record CallInfo(Dictionary<string, string> Headers, string MessageId, string? CorrelationId, string? TraceId, string? ParentSpanId, TimeSpan? Timeout = null)
{
    /// <summary>Gets the peer the handler's context named (<see cref="IpcContext.RemoteAddress"/>).</summary>
    public string? RemoteAddress { get; init; }
}

/// <summary>A numbered one-way message.</summary>
public sealed record Numbered(int Value);

/// <summary>A request for a stream of <see cref="Count"/> numbers (a negative count streams until the caller stops).</summary>
public sealed record RangeRequest(int Count);
