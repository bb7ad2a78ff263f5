using Microsoft.Extensions.Logging;

namespace Ipc.SharedMemory;

/// <summary>
/// Every log event of the shared-memory transport, with its event id (1400-1499), category <c>Ipc.SharedMemory</c>; the
/// connections themselves log through the stream core (100-199).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1400, LogLevel.Information, "Removed {Count} shared-memory segment files that crashed processes left for shm://{Name} in {Directory}.")]
    public static partial void StaleSegmentsRemoved(ILogger logger, int count, string name, string directory);
}
