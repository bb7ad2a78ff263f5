namespace Ipc;

/// <summary>
/// A failure carried in a response <see cref="IpcMessage"/> from server to client: the error code, a message, and for
/// <see cref="IpcErrorCode.RemoteError"/> what the handler reported. Transports send it as it is; the runtime turns it into
/// the exception the caller sees.
/// </summary>
/// <param name="ErrorCode">The error code.</param>
/// <param name="Message">A message that says what went wrong and what to fix.</param>
/// <param name="Remote">What the handler reported, for <see cref="IpcErrorCode.RemoteError"/>.</param>
public sealed record IpcFault(IpcErrorCode ErrorCode, string Message, IpcRemoteError? Remote = null)
{
    /// <summary>Creates the exception a caller sees for this fault.</summary>
    /// <param name="endpoint">The endpoint name, for the message.</param>
    public Exception ToException(string? endpoint = null)
    {
        if (Remote is not null)
        {
            return new IpcException(Remote, endpoint);
        }

        if (ErrorCode == IpcErrorCode.Timeout)
        {
            return new IpcTimeoutException(Message) { Endpoint = endpoint };
        }

        return new IpcException(ErrorCode, Message) { Endpoint = endpoint };
    }
}
