using Microsoft.Extensions.Logging;

namespace Ipc.Http;

/// <summary>Every log event of the HTTP transport, with its event id (1500-1599), category <c>Ipc.Http</c>.</summary>
internal static partial class Log
{
    [LoggerMessage(1500, LogLevel.Warning, "Ipc endpoint '{Endpoint}' stopped, and its DrainTimeout ended with {Count} accepted one-way messages not yet handled; they are dropped.")]
    public static partial void OneWayDropped(ILogger logger, string endpoint, int count);

    [LoggerMessage(1501, LogLevel.Error, "Ipc endpoint '{Endpoint}' failed to answer an HTTP request for route '{Route}'.")]
    public static partial void RequestFailed(ILogger logger, string endpoint, string route, Exception exception);

    [LoggerMessage(1502, LogLevel.Warning, "Endpoint '{Endpoint}' ({Address}) refused a client certificate: {Reason}.")]
    public static partial void ClientCertificateRefused(ILogger logger, string endpoint, string address, string reason);

    [LoggerMessage(1503, LogLevel.Warning, "Endpoint '{Endpoint}' keeps its current certificate: the changed file '{Path}' did not load, and is read again when it next changes. {Reason}")]
    public static partial void CertificateReloadFailed(ILogger logger, string endpoint, string path, string reason, Exception exception);

    [LoggerMessage(1504, LogLevel.Warning, "Ipc endpoint '{Endpoint}' stopped, and its DrainTimeout ended while the handler of one-way message {MessageId} for route '{Route}' ran; the handler ended on its cancelled token, so the message is dropped.")]
    public static partial void OneWayHandlerCancelled(ILogger logger, string endpoint, string messageId, string route);
}
