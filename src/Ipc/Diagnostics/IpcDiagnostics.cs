using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Ipc.Diagnostics;

/// <summary>The names of the library's <see cref="ActivitySource"/> and <see cref="Meter"/>, and the trace-context plumbing.</summary>
public static class IpcDiagnostics
{
    /// <summary>The name of the <see cref="ActivitySource"/> and of the <see cref="Meter"/>: <c>Ipc</c>.</summary>
    public const string SourceName = "Ipc";

    internal static readonly ActivitySource ActivitySource = new(SourceName, typeof(IpcDiagnostics).Assembly.GetName().Version?.ToString());

    internal static readonly Meter Meter = new(SourceName, typeof(IpcDiagnostics).Assembly.GetName().Version?.ToString());

    internal static readonly Histogram<double> ClientDuration = Meter.CreateHistogram<double>(
        "ipc.client.request.duration", "s", "Duration of Ipc calls made by clients.");

    internal static readonly Histogram<double> ServerDuration = Meter.CreateHistogram<double>(
        "ipc.server.request.duration", "s", "Duration of Ipc calls handled by servers.");

    internal static readonly Counter<long> ServerDropped = Meter.CreateCounter<long>(
        "ipc.server.message.failed", "{message}", "Accepted one-way messages that could not be delivered to a handler.");

    internal static Activity? StartClient(string endpoint, IpcMessage message, string operation)
    {
        var activity = StartClientActivity(endpoint, message.Route, operation);
        activity?.SetTag("messaging.message.id", message.MessageId);
        Inject(activity ?? Activity.Current, message);
        return activity;
    }

    /// <summary>Starts one client activity for a batch of one-way messages, and stamps its trace context on each.</summary>
    internal static Activity? StartClientBatch(string endpoint, IReadOnlyList<IpcMessage> messages)
    {
        var activity = StartClientActivity(endpoint, messages[0].Route, "send");
        activity?.SetTag("messaging.batch.message_count", messages.Count);
        var current = activity ?? Activity.Current;
        foreach (var message in current is null ? [] : messages)
        {
            Inject(current, message);
        }

        return activity;
    }

    private static Activity? StartClientActivity(string endpoint, string route, string operation)
    {
        var activity = ActivitySource.HasListeners()
            ? ActivitySource.StartActivity($"{endpoint}/{route} {operation}", ActivityKind.Client)
            : null;
        if (activity is not null)
        {
            activity.SetTag("rpc.system", "ipc");
            activity.SetTag("rpc.service", endpoint);
            activity.SetTag("rpc.method", route);
        }

        return activity;
    }

    private static void Inject(Activity? current, IpcMessage message)
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

    internal static Activity? StartServer(string endpoint, IpcMessage message, string operation)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }

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

        var activity = ActivitySource.StartActivity($"{endpoint}/{message.Route} {operation}", ActivityKind.Server, parent);
        if (activity is not null)
        {
            activity.SetTag("rpc.system", "ipc");
            activity.SetTag("rpc.service", endpoint);
            activity.SetTag("rpc.method", message.Route);
            activity.SetTag("messaging.message.id", message.MessageId);
        }

        return activity;
    }
}
