using Microsoft.Extensions.Logging;

namespace Ipc.Amqp;

/// <summary>The AMQP transport's log events (ids 1700-1799).</summary>
internal static partial class Log
{
    [LoggerMessage(1700, LogLevel.Warning, "The AMQP connection of endpoint '{Endpoint}' was lost ({Reason}); it recovers by itself.")]
    public static partial void ConnectionLost(ILogger logger, string endpoint, string reason);

    [LoggerMessage(1701, LogLevel.Information, "The AMQP connection of endpoint '{Endpoint}' recovered, with its channels, consumers and topology.")]
    public static partial void ConnectionRecovered(ILogger logger, string endpoint);

    [LoggerMessage(1702, LogLevel.Error, "Message {MessageId} for route '{Route}' of endpoint '{Endpoint}' went to the dead-letter queue '{Queue}' after {Deliveries} deliveries: {ErrorCode}: {Error}")]
    public static partial void DeadLettered(ILogger logger, string messageId, string route, string endpoint, string queue, long deliveries, IpcErrorCode errorCode, string error);

    [LoggerMessage(1703, LogLevel.Warning, "Message {MessageId} for route '{Route}' of endpoint '{Endpoint}' failed on delivery {Deliveries} of {MaxDeliveries} ({ErrorCode}); it is delivered again.")]
    public static partial void Redelivering(ILogger logger, string messageId, string route, string endpoint, long deliveries, int maxDeliveries, IpcErrorCode errorCode);

    [LoggerMessage(1704, LogLevel.Warning, "The answer to request {MessageId} for route '{Route}' of endpoint '{Endpoint}' could not be sent: {Reason}")]
    public static partial void ReplyFailed(ILogger logger, string messageId, string route, string endpoint, string reason);

    [LoggerMessage(1705, LogLevel.Warning, "Message {MessageId} for route '{Route}' of endpoint '{Endpoint}' could not be requeued or dead-lettered ({Reason}); the broker delivers it again.")]
    public static partial void SettleFailed(ILogger logger, string messageId, string route, string endpoint, string reason);

    [LoggerMessage(1706, LogLevel.Warning, "The broker returned a message of endpoint '{Endpoint}' sent without publisher confirms: no queue for routing key '{RoutingKey}' ({ReplyText}).")]
    public static partial void Returned(ILogger logger, string endpoint, string routingKey, string replyText);

    [LoggerMessage(1707, LogLevel.Debug, "Message {MessageId} for route '{Route}' of endpoint '{Endpoint}' had passed its deadline; it is dropped.")]
    public static partial void Expired(ILogger logger, string messageId, string route, string endpoint);

    [LoggerMessage(1708, LogLevel.Warning, "The AMQP transport of endpoint '{Endpoint}' ignores stream route '{Route}': AMQP endpoints serve requests, one-way messages and subscriptions.")]
    public static partial void StreamRouteIgnored(ILogger logger, string endpoint, string route);

    [LoggerMessage(1709, LogLevel.Error, "A delivery of endpoint '{Endpoint}' failed outside its handler: {Reason}. The broker delivers it again once the channel closes.")]
    public static partial void HandlingFailed(ILogger logger, string endpoint, string reason, Exception exception);

    [LoggerMessage(1710, LogLevel.Warning, "The dead-letter queue '{Queue}' of endpoint '{Endpoint}' has an expiry (x-expires, from an earlier version): the broker deletes it, dead letters included, once it has been unused that long. Move its messages elsewhere and delete it; the server declares it again without one.")]
    public static partial void DeadLetterQueueExpires(ILogger logger, string queue, string endpoint);
}
