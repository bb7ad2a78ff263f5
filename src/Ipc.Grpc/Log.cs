using Microsoft.Extensions.Logging;

namespace Ipc.Grpc;

/// <summary>Every log event of the gRPC transport, with its event id (1600-1699), category <c>Ipc.Grpc</c>.</summary>
internal static partial class Log
{
    [LoggerMessage(1600, LogLevel.Warning, "A message for route '{Route}' of {Length} bytes was refused on endpoint '{Endpoint}': over its {MaxMessageSize}-byte MaxMessageSize.")]
    public static partial void TooLarge(ILogger logger, string route, int length, string endpoint, int maxMessageSize);

    [LoggerMessage(1601, LogLevel.Warning, "Endpoint '{Endpoint}' ({Address}) refused a client certificate: {Reason}.")]
    public static partial void ClientCertificateRefused(ILogger logger, string endpoint, string address, string reason);
}
