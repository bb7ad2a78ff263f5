using Microsoft.Extensions.Logging;

namespace Ipc.Grpc;

/// <summary>Every log event of the gRPC transport, with its event id (1600-1699), category <c>Ipc.Grpc</c>.</summary>
internal static partial class Log
{
    [LoggerMessage(1600, LogLevel.Warning, "A message for route '{Route}' of {Length} bytes was refused on endpoint '{Endpoint}': over its {MaxMessageSize}-byte MaxMessageSize.")]
    public static partial void TooLarge(ILogger logger, string route, int length, string endpoint, int maxMessageSize);

    [LoggerMessage(1601, LogLevel.Warning, "Endpoint '{Endpoint}' ({Address}) refused a client certificate: {Reason}.")]
    public static partial void ClientCertificateRefused(ILogger logger, string endpoint, string address, string reason);

    [LoggerMessage(1602, LogLevel.Warning, "Endpoint '{Endpoint}' keeps its current certificate: the changed file '{Path}' did not load, and is read again when it next changes. {Reason}")]
    public static partial void CertificateReloadFailed(ILogger logger, string endpoint, string path, string reason, Exception exception);
}
