namespace Ipc;

/// <summary>
/// Raised when an Ipc call does not complete within its timeout. Derives from <see cref="TimeoutException"/>;
/// its <see cref="ErrorCode"/> is always <see cref="IpcErrorCode.Timeout"/> and it is transient.
/// </summary>
public sealed class IpcTimeoutException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public IpcTimeoutException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a default message.</summary>
    public IpcTimeoutException()
        : this("The Ipc call timed out.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public IpcTimeoutException(string message)
        : this(message, null)
    {
    }

    /// <summary>Gets <see cref="IpcErrorCode.Timeout"/>.</summary>
    public IpcErrorCode ErrorCode => IpcErrorCode.Timeout;

    /// <summary>Gets <see langword="true"/>: a timed-out call may succeed when tried again.</summary>
    public bool IsTransient => true;

    /// <summary>Gets or sets the timeout that elapsed.</summary>
    public TimeSpan Timeout { get; init; }

    /// <summary>Gets or sets the name of the endpoint the call was made on, when known.</summary>
    public string? Endpoint { get; init; }
}
