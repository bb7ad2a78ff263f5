using Microsoft.Extensions.Logging;

namespace Ipc.Diagnostics;

/// <summary>
/// Every log event of the runtime, with its event id (1-99; the stream core uses 100-199, the socket transports 200-299).
/// Nothing is logged per successful call at Information or above; connection lifecycle is Debug.
/// </summary>
internal static partial class Log
{
    /// <summary>The <c>RemoteAddress</c> of a failure whose transport names no peer (in-memory; AMQP without <c>app_id</c>).</summary>
    public const string UnknownPeer = "unknown";

    [LoggerMessage(1, LogLevel.Error, "Handler for route '{Route}' on endpoint '{Endpoint}' failed (message {MessageId} from {RemoteAddress}).")]
    public static partial void HandlerFailed(ILogger logger, string endpoint, string route, string messageId, string remoteAddress, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on endpoint '{Endpoint}' from {RemoteAddress} was accepted but not delivered: {Reason}")]
    public static partial void MessageFailed(ILogger logger, string endpoint, string route, string messageId, string remoteAddress, string reason, Exception? exception);

    [LoggerMessage(3, LogLevel.Information, "Dropped one-way message {MessageId} for route '{Route}' on endpoint '{Endpoint}': it is a duplicate of a message already received.")]
    public static partial void DuplicateDropped(ILogger logger, string messageId, string route, string endpoint);

    [LoggerMessage(4, LogLevel.Information, "Answered request {MessageId} for route '{Route}' on endpoint '{Endpoint}' with the response of its first delivery: it is a duplicate.")]
    public static partial void DuplicateRequest(ILogger logger, string messageId, string route, string endpoint);

    [LoggerMessage(10, LogLevel.Information, "Ipc endpoint '{Endpoint}' listening on {Address} ({Transport}, {RouteCount} routes).")]
    public static partial void Listening(ILogger logger, string endpoint, string address, string transport, int routeCount);

    [LoggerMessage(11, LogLevel.Information, "Ipc endpoint '{Endpoint}' is served by its host, which claimed it; no transport listener started ({RouteCount} routes).")]
    public static partial void HostedExternally(ILogger logger, string endpoint, int routeCount);

    [LoggerMessage(12, LogLevel.Debug, "Ipc endpoint '{Endpoint}' is stopping: the one-way messages it accepted are handled for its DrainTimeout at most.")]
    public static partial void EndpointStopping(ILogger logger, string endpoint);

    [LoggerMessage(13, LogLevel.Error, "Ipc endpoint '{Endpoint}' failed to stop; the other endpoints stop regardless.")]
    public static partial void EndpointStopFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(20, LogLevel.Error, "One-way message {MessageId} for route '{Route}' on endpoint '{Endpoint}' was accepted but not delivered: the server stopped, and its DrainTimeout ended before the message's turn.")]
    public static partial void InMemoryNotDelivered(ILogger logger, string messageId, string route, string endpoint);

    [LoggerMessage(21, LogLevel.Warning, "One-way message {MessageId} for route '{Route}' on endpoint '{Endpoint}' was not delivered: the server stopped, and its DrainTimeout ended while the message's handler ran; the handler ended on its cancelled token.")]
    public static partial void InMemoryHandlerCancelled(ILogger logger, string messageId, string route, string endpoint);

    [LoggerMessage(30, LogLevel.Debug, "Connection {Connection} of endpoint '{Endpoint}' opened ({Side}).")]
    public static partial void ConnectionOpened(ILogger logger, string connection, string endpoint, string side);

    [LoggerMessage(31, LogLevel.Debug, "Connection {Connection} closed after {Duration}: {Reason}.")]
    public static partial void ConnectionClosed(ILogger logger, string connection, TimeSpan duration, string reason);

    [LoggerMessage(41, LogLevel.Debug, "A call to route '{Route}' of endpoint '{Endpoint}' failed ({ErrorType}); retry {Retry} in {Delay}.")]
    public static partial void CallRetried(ILogger logger, string route, string endpoint, string errorType, int retry, TimeSpan delay);

    [LoggerMessage(EventId = 40, Message = "The circuit breaker of endpoint '{Endpoint}' ({Address}) is now {State}.")]
    public static partial void CircuitBreakerChanged(ILogger logger, LogLevel level, string endpoint, string address, string state);
}
