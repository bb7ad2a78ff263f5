using Microsoft.Extensions.Logging;

namespace Ipc.Sockets;

/// <summary>
/// Every log event of the socket transports, with its event id (200-299; the runtime uses 1-99, the stream core 100-199).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(200, LogLevel.Warning, "Endpoint '{Endpoint}' ({Address}) refused a client certificate: {Reason}.")]
    public static partial void ClientCertificateRefused(ILogger logger, string endpoint, string address, string reason);

    [LoggerMessage(201, LogLevel.Warning, "Endpoint '{Endpoint}' keeps its current certificate: the changed file '{Path}' did not load, and is read again when it next changes. {Reason}")]
    public static partial void CertificateReloadFailed(ILogger logger, string endpoint, string path, string reason, Exception exception);
}
