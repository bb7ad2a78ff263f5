using System.Diagnostics.Metrics;
using Ipc.Diagnostics;

namespace Ipc.Transports.Streams;

/// <summary>The stream core's instruments, on the library's one <see cref="Meter"/> name (<see cref="IpcDiagnostics.SourceName"/>).</summary>
internal static class StreamDiagnostics
{
    private static readonly Meter s_meter = new(IpcDiagnostics.SourceName, typeof(StreamDiagnostics).Assembly.GetName().Version?.ToString());

    /// <summary>The same instrument as the runtime's: accepted one-way messages that never reached a handler.</summary>
    public static readonly Counter<long> ServerDropped = s_meter.CreateCounter<long>(
        "ipc.server.message.failed", "{message}", "Accepted one-way messages that could not be delivered to a handler.");
}
