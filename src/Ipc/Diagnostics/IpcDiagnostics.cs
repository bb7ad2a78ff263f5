using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Ipc.Diagnostics;

/// <summary>The names of the library's <see cref="ActivitySource"/> and <see cref="Meter"/>.</summary>
/// <remarks>
/// Collect them with OpenTelemetry (<c>AddSource(IpcDiagnostics.ActivitySourceName)</c> and
/// <c>AddMeter(IpcDiagnostics.MeterName)</c>, or <c>AddIpcInstrumentation()</c> from the Ipc.OpenTelemetry package), with
/// an <see cref="ActivityListener"/> and a <see cref="MeterListener"/>, or with <c>dotnet-counters</c>. The spans, metrics
/// and tags are listed in docs/observability.md.
/// </remarks>
public static class IpcDiagnostics
{
    /// <summary>The name of the <see cref="ActivitySource"/> and of the <see cref="Meter"/>: <c>Ipc</c>.</summary>
    public const string SourceName = "Ipc";

    /// <summary>The name of the <see cref="ActivitySource"/> of client and server spans: <c>Ipc</c>.</summary>
    public const string ActivitySourceName = SourceName;

    /// <summary>The name of the <see cref="Meter"/> of every Ipc instrument: <c>Ipc</c>.</summary>
    public const string MeterName = SourceName;

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName, typeof(IpcDiagnostics).Assembly.GetName().Version?.ToString());

    /// <summary>The <c>error.type</c> of a failure: the <see cref="IpcErrorCode"/> of an Ipc failure, else the exception's type.</summary>
    internal static string ErrorType(Exception exception) =>
        IpcException.TryGetErrorCode(exception, out var code) ? code.ToString() : exception.GetType().FullName ?? exception.GetType().Name;

    /// <summary>Marks <paramref name="activity"/> failed: span status Error and <c>error.type</c>.</summary>
    internal static void SetError(Activity? activity, string errorType, string? description)
    {
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, description ?? errorType);
            activity.SetTag("error.type", errorType);
        }
    }

    internal static void Inject(Activity? current, IpcMessage message)
    {
        if (current is not null)
        {
            DistributedContextPropagator.Current.Inject(current, message, static (carrier, name, value) =>
            {
                if (carrier is IpcMessage m && value is not null)
                {
                    m.Headers[name] = value;
                }
            });
        }
    }

    internal static ActivityContext Extract(IpcMessage message)
    {
        ActivityContext parent = default;
        if (message.HasHeaders)
        {
            DistributedContextPropagator.Current.ExtractTraceIdAndState(message, static (object? carrier, string name, out string? value, out IEnumerable<string>? values) =>
            {
                values = null;
                value = null;
                if (carrier is IpcMessage m && m.HasHeaders && m.Headers.TryGetValue(name, out var found))
                {
                    value = found;
                }
            }, out var traceParent, out var traceState);
            if (traceParent is not null)
            {
                ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent);
            }
        }

        return parent;
    }
}
