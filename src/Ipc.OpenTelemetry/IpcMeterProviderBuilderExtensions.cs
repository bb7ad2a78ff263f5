using Ipc.Diagnostics;

namespace OpenTelemetry.Metrics;

/// <summary>Adds Ipc's metrics to a <see cref="MeterProviderBuilder"/>.</summary>
public static class IpcMeterProviderBuilderExtensions
{
    /// <summary>
    /// Collects every Ipc instrument (the <see cref="IpcDiagnostics.MeterName"/> meter): call durations, messages and
    /// bytes, connections, reconnects and circuit breaker transitions.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The same builder.</returns>
    public static MeterProviderBuilder AddIpcInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(IpcDiagnostics.MeterName);
    }
}
