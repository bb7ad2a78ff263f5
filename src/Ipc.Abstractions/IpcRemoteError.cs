namespace Ipc;

/// <summary>
/// What a server reports about a failed handler: an application code, a message and optional details.
/// </summary>
/// <param name="Code">
/// The application error code of an <see cref="IpcHandlerException"/> (for example <c>USER_NOT_FOUND</c>). For any other
/// exception, <see cref="UnhandledExceptionCode"/>, or its type name when the server sends detailed errors.
/// </param>
/// <param name="Message">A message meant for the caller.</param>
/// <param name="Details">Optional key/value details.</param>
/// <remarks>
/// An exception other than <see cref="IpcHandlerException"/> reaches the caller without its type, message or stack
/// trace unless the server opts in with <c>EnableDetailedErrors</c>; then <see cref="Code"/> is its type name,
/// <see cref="Message"/> its message, and <paramref name="Details"/> holds a <c>stackTrace</c> entry.
/// </remarks>
public sealed record IpcRemoteError(string Code, string Message, IReadOnlyDictionary<string, string>? Details = null)
{
    /// <summary>The <see cref="Code"/> of a handler's unhandled exception when the server does not send detailed errors.</summary>
    public const string UnhandledExceptionCode = "UNHANDLED_EXCEPTION";
}
