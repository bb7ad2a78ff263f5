namespace Ipc;

/// <summary>
/// The stable error codes of the Ipc error model. Every transport raises the same code for the same situation.
/// </summary>
/// <remarks>
/// The numeric values are part of the wire format and never change; new codes are only ever added.
/// See docs/error-model.md for the mapping from each transport's native errors.
/// </remarks>
public enum IpcErrorCode
{
    /// <summary>An error the library could not classify. Never raised on purpose.</summary>
    Unknown = 0,

    /// <summary>The peer cannot be reached: no server listening, connection refused or lost, server stopped. Transient.</summary>
    Unavailable = 1,

    /// <summary>The call did not complete within its timeout. Transient.</summary>
    Timeout = 2,

    /// <summary>The endpoint's circuit breaker is open; the call was not attempted.</summary>
    CircuitOpen = 3,

    /// <summary>The server has no handler for the route (or not for that kind of call).</summary>
    NoHandler = 4,

    /// <summary>The handler failed; <see cref="IpcException.Remote"/> carries its code, message and details.</summary>
    RemoteError = 5,

    /// <summary>A message could not be serialized or deserialized (wrong type, malformed body, unknown content type).</summary>
    Serialization = 6,

    /// <summary>A message is larger than the endpoint's <c>MaxMessageSize</c>.</summary>
    MessageTooLarge = 7,

    /// <summary>The peer broke the wire protocol (malformed frame, unexpected message kind).</summary>
    ProtocolError = 8,

    /// <summary>The peer refused the caller's identity (certificate, peer credentials, broker login).</summary>
    Unauthorized = 9,

    /// <summary>The transport or endpoint does not support the requested kind of call.</summary>
    NotSupported = 10,

    /// <summary>A limit of the peer was reached (calls in flight on a connection, connections to a server): wait for calls
    /// to end, or raise the limit.</summary>
    ResourceExhausted = 11,
}
