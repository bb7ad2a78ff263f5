using System.Diagnostics.CodeAnalysis;

namespace Ipc;

/// <summary>
/// The exception every Ipc call raises on failure, carrying a stable <see cref="IpcErrorCode"/>.
/// </summary>
/// <remarks>
/// Timeouts are raised as <see cref="IpcTimeoutException"/>, which derives from <see cref="TimeoutException"/> so that
/// existing <c>catch (TimeoutException)</c> blocks keep working; use <see cref="TryGetErrorCode"/> to read the code of
/// either. Caller cancellation is raised as <see cref="OperationCanceledException"/>, never as an <see cref="IpcException"/>.
/// The transport's native exception, if any, is kept as <see cref="Exception.InnerException"/>.
/// </remarks>
public class IpcException : Exception
{
    /// <summary>Creates an exception with the given code and message.</summary>
    public IpcException(IpcErrorCode errorCode, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ErrorCode = errorCode;
    }

    /// <summary>Creates a <see cref="IpcErrorCode.RemoteError"/> exception for a failed remote handler.</summary>
    public IpcException(IpcRemoteError remote, string? endpoint = null)
        : base(FormatRemote(remote, endpoint))
    {
        ArgumentNullException.ThrowIfNull(remote);
        ErrorCode = IpcErrorCode.RemoteError;
        Remote = remote;
        Endpoint = endpoint;
    }

    /// <summary>Creates an exception with <see cref="IpcErrorCode.Unknown"/>.</summary>
    public IpcException()
        : this(IpcErrorCode.Unknown, "An unknown Ipc error occurred.")
    {
    }

    /// <summary>Creates an exception with <see cref="IpcErrorCode.Unknown"/> and the given message.</summary>
    public IpcException(string message)
        : this(IpcErrorCode.Unknown, message)
    {
    }

    /// <summary>Creates an exception with <see cref="IpcErrorCode.Unknown"/>, the given message and inner exception.</summary>
    public IpcException(string message, Exception innerException)
        : this(IpcErrorCode.Unknown, message, innerException)
    {
    }

    /// <summary>Gets the stable error code.</summary>
    public IpcErrorCode ErrorCode { get; }

    /// <summary>Gets a value indicating whether retrying the same call may succeed (<see cref="IpcErrorCode.Unavailable"/> and <see cref="IpcErrorCode.Timeout"/>).</summary>
    public bool IsTransient => IsTransientCode(ErrorCode);

    /// <summary>Gets what the remote handler reported, for <see cref="IpcErrorCode.RemoteError"/>; otherwise <see langword="null"/>.</summary>
    public IpcRemoteError? Remote { get; }

    /// <summary>Gets or sets the name of the endpoint the call was made on, when known.</summary>
    public string? Endpoint { get; init; }

    /// <summary>
    /// Gets or sets a value indicating whether the transport knows that the message was not accepted: nothing reached the
    /// server or broker (no server listening, connection refused, queue closed before the write), so sending it again
    /// cannot deliver it twice.
    /// </summary>
    /// <value>
    /// The default value is <see langword="false"/>: the message may have been accepted (for example the connection broke
    /// after the write). Transports set it only when they are sure. The runtime retries one-way sends only when it is
    /// <see langword="true"/>, unless the endpoint is marked idempotent.
    /// </value>
    public bool NotAccepted { get; init; }

    /// <summary>
    /// Gets or sets, for a failed <see cref="IChannel.SendBatchAsync{TMessage}"/>, how many of the batch's first messages
    /// the transport accepted before the failure; those are delivered. <see langword="null"/> for any other call.
    /// </summary>
    public int? AcceptedCount { get; init; }

    /// <summary>Returns whether the code is transient (<see cref="IpcErrorCode.Unavailable"/> or <see cref="IpcErrorCode.Timeout"/>).</summary>
    public static bool IsTransientCode(IpcErrorCode code) => code is IpcErrorCode.Unavailable or IpcErrorCode.Timeout;

    /// <summary>Reads the Ipc error code of an <see cref="IpcException"/> or an <see cref="IpcTimeoutException"/>.</summary>
    /// <returns><see langword="true"/> when <paramref name="exception"/> is an Ipc error.</returns>
    public static bool TryGetErrorCode([NotNullWhen(true)] Exception? exception, out IpcErrorCode errorCode)
    {
        switch (exception)
        {
            case IpcException ipc:
                errorCode = ipc.ErrorCode;
                return true;
            case IpcTimeoutException:
                errorCode = IpcErrorCode.Timeout;
                return true;
            default:
                errorCode = IpcErrorCode.Unknown;
                return false;
        }
    }

    /// <summary>Returns whether <paramref name="exception"/> is a transient Ipc error.</summary>
    public static bool IsTransientError(Exception? exception) =>
        TryGetErrorCode(exception, out var code) && IsTransientCode(code);

    private static string FormatRemote(IpcRemoteError remote, string? endpoint)
    {
        ArgumentNullException.ThrowIfNull(remote);
        return endpoint is null
            ? $"The remote handler failed with {remote.Code}: {remote.Message}"
            : $"The remote handler on endpoint '{endpoint}' failed with {remote.Code}: {remote.Message}";
    }
}
