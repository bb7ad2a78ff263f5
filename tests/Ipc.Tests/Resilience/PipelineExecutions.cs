using Polly.Telemetry;

namespace Ipc.Tests.Resilience;

/// <summary>Counts the executions of the Ipc pipelines, as Polly reports them to a telemetry listener.</summary>
internal sealed class PipelineExecutions : TelemetryListener
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
    {
        if (args.Event.EventName == "PipelineExecuted" && args.Source.PipelineInstanceName == ScriptedEndpoint.Name)
        {
            Interlocked.Increment(ref _count);
        }
    }
}
