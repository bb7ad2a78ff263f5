using Microsoft.Extensions.Logging;

namespace Ipc.Transports.Streams;

/// <summary>
/// Every log event of the stream core, with its event id (100-199; the runtime uses 1-99, the socket transports
/// 200-299). Connections opening and closing are logged at Debug by the runtime (<c>IpcTransportTelemetry</c>).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Warning, "Closing connection {Connection}: the peer broke the wire format: {Reason}.")]
    public static partial void ProtocolError(ILogger logger, string connection, string reason);

    [LoggerMessage(101, LogLevel.Warning, "Closing connection {Connection}: the client did not send the Ipc preface within {Timeout}.")]
    public static partial void HandshakeTimeout(ILogger logger, string connection, TimeSpan timeout);

    [LoggerMessage(102, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on {Connection} was dropped: its {Size}-byte body is over the {MaxMessageSize}-byte MaxMessageSize.")]
    public static partial void OversizeDropped(ILogger logger, string messageId, string route, string connection, int size, int maxMessageSize);

    [LoggerMessage(103, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on {Connection} was accepted but not delivered: the server stopped, and its DrainTimeout ended before the message's turn.")]
    public static partial void NotDelivered(ILogger logger, string messageId, string route, string connection);

    [LoggerMessage(104, LogLevel.Error, "Closing connection {Connection}: it failed unexpectedly.")]
    public static partial void Failed(ILogger logger, string connection, Exception exception);

    [LoggerMessage(105, LogLevel.Information, "Connection {Connection}: handlers or callers held its reader for more than {Threshold} {Count} times within {Window}; its calls run on the thread pool until that period ends.")]
    public static partial void ReaderWorkStopped(ILogger logger, string connection, int count, TimeSpan threshold, TimeSpan window);

    [LoggerMessage(106, LogLevel.Warning, "Closing connection {Connection}: the peer did not finish a frame within the FrameTimeout of {Timeout}.")]
    public static partial void FrameTimeout(ILogger logger, string connection, TimeSpan timeout);

    [LoggerMessage(107, LogLevel.Debug, "Closing connection {Connection}: no calls for {IdleTimeout}.")]
    public static partial void IdleClosed(ILogger logger, string connection, TimeSpan idleTimeout);

    [LoggerMessage(108, LogLevel.Debug, "Connection {Connection}: its reader runs handlers and completions itself again.")]
    public static partial void ReaderWorkResumed(ILogger logger, string connection);

    [LoggerMessage(109, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on {Connection} was accepted but not delivered: the connection closed before it was written.")]
    public static partial void NotWritten(ILogger logger, string messageId, string route, string connection);

    [LoggerMessage(110, LogLevel.Error, "Accepting a connection on endpoint '{Endpoint}' ({Address}) failed; retrying.")]
    public static partial void AcceptFailed(ILogger logger, string endpoint, string address, Exception exception);

    [LoggerMessage(111, LogLevel.Warning, "Refused {Connection}: {Reason}")]
    public static partial void Refused(ILogger logger, string connection, string reason, Exception exception);

    [LoggerMessage(112, LogLevel.Error, "{Connection} failed unexpectedly.")]
    public static partial void ConnectionFailed(ILogger logger, string connection, Exception exception);

    [LoggerMessage(113, LogLevel.Warning, "Refused {Connection}: the server already serves MaxConnections ({MaxConnections}) connections.")]
    public static partial void TooManyConnections(ILogger logger, string connection, int maxConnections);

    [LoggerMessage(114, LogLevel.Warning, "One-way message {MessageId} for route '{Route}' on {Connection} was not delivered: the server stopped, and its DrainTimeout ended while the message's handler ran; the handler ended on its cancelled token.")]
    public static partial void HandlerCancelled(ILogger logger, string messageId, string route, string connection);
}
