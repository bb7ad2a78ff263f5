using Ipc.Diagnostics;

namespace OpenTelemetry.Trace;

/// <summary>Adds Ipc's spans to a <see cref="TracerProviderBuilder"/>.</summary>
public static class IpcTracerProviderBuilderExtensions
{
    /// <summary>
    /// Collects the client and server spans of every Ipc call (the <see cref="IpcDiagnostics.ActivitySourceName"/>
    /// activity source): requests, streams, one-way and published messages and batches, on every transport.
    /// </summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The same builder.</returns>
    public static TracerProviderBuilder AddIpcInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(IpcDiagnostics.ActivitySourceName);
    }
}
