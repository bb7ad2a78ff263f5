namespace Ipc;

/// <summary>
/// Thrown by a handler to control what the caller sees: an application <see cref="Code"/>, a message and details.
/// The caller receives an <see cref="IpcException"/> with <see cref="IpcErrorCode.RemoteError"/> whose
/// <see cref="IpcException.Remote"/> carries these values.
/// </summary>
public class IpcHandlerException : Exception
{
    /// <summary>Creates the exception.</summary>
    public IpcHandlerException(string code, string message, IReadOnlyDictionary<string, string>? details = null, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Code = code;
        Details = details;
    }

    /// <summary>Creates the exception with code <c>HANDLER_ERROR</c>.</summary>
    public IpcHandlerException()
        : this("HANDLER_ERROR", "The handler failed.")
    {
    }

    /// <summary>Creates the exception with code <c>HANDLER_ERROR</c>.</summary>
    public IpcHandlerException(string message)
        : this("HANDLER_ERROR", message)
    {
    }

    /// <summary>Creates the exception with code <c>HANDLER_ERROR</c>.</summary>
    public IpcHandlerException(string message, Exception innerException)
        : this("HANDLER_ERROR", message, null, innerException)
    {
    }

    /// <summary>Gets the application error code sent to the caller.</summary>
    public string Code { get; }

    /// <summary>Gets the details sent to the caller.</summary>
    public IReadOnlyDictionary<string, string>? Details { get; }
}
