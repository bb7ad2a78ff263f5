namespace Ipc;

/// <summary>
/// What a server reports about a failed handler: an application code, a message and optional details.
/// </summary>
/// <param name="Code">The application error code (for example <c>USER_NOT_FOUND</c>), or the exception type name when the handler did not set one.</param>
/// <param name="Message">A message meant for the caller.</param>
/// <param name="Details">Optional key/value details.</param>
/// <remarks>Stack traces are not sent unless the server opts in with <c>IncludeExceptionDetails</c>; then <paramref name="Details"/> holds a <c>stackTrace</c> entry.</remarks>
public sealed record IpcRemoteError(string Code, string Message, IReadOnlyDictionary<string, string>? Details = null);
