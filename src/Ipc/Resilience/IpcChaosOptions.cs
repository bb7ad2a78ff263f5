using Polly.Simmy.Fault;
using Polly.Simmy.Latency;
using Polly.Simmy.Outcomes;

namespace Ipc;

/// <summary>
/// Fault injection for an application's own tests, with Polly's chaos strategies: each is off until its <c>Enabled</c> is
/// set, and then acts on a share (<c>InjectionRate</c>, 0 to 1) of the attempts, innermost in the pipeline, so the
/// injected failures are retried and counted by the circuit breaker like real ones.
/// </summary>
/// <example>
/// <code>
/// "Ipc": { "Endpoints": { "calculator": { "Resilience": { "Chaos": {
///     "Fault": { "Enabled": true, "InjectionRate": 0.2, "ErrorCode": "Unavailable" },
///     "Latency": { "Enabled": true, "InjectionRate": 0.1, "Latency": "00:00:02" } } } } } }
/// </code>
/// </example>
public sealed class IpcChaosOptions
{
    /// <summary>Gets or sets the fault strategy: an attempt fails with an <see cref="IpcException"/> before reaching the transport.</summary>
    public IpcChaosFaultOptions Fault { get; set; } = new();

    /// <summary>Gets or sets the latency strategy: an attempt waits <see cref="ChaosLatencyStrategyOptions.Latency"/> before reaching the transport.</summary>
    public IpcChaosLatencyOptions Latency { get; set; } = new();

    /// <summary>Gets or sets the outcome strategy: a request gets a fault response instead of reaching the transport (request/response calls only).</summary>
    public IpcChaosOutcomeOptions Outcome { get; set; } = new();
}

/// <summary>Polly's <see cref="ChaosFaultStrategyOptions"/> injecting an <see cref="IpcException"/> with <see cref="ErrorCode"/>; off by default.</summary>
public sealed class IpcChaosFaultOptions : ChaosFaultStrategyOptions
{
    /// <summary>Creates the options, disabled.</summary>
    public IpcChaosFaultOptions()
    {
        Name = "ChaosFault"; // Polly's own default is "Chaos.Fault"
        Enabled = false;
        FaultGenerator = args => new ValueTask<Exception?>(new IpcException(ErrorCode, $"Fault injected by the chaos strategy (Resilience:Chaos:Fault) on route '{args.Context.OperationKey}'.")
        {
            NotAccepted = true, // the transport was never called
        });
    }

    /// <summary>Gets or sets the code of the injected failure.</summary>
    /// <value>The default value is <see cref="IpcErrorCode.Unavailable"/>.</value>
    public IpcErrorCode ErrorCode { get; set; } = IpcErrorCode.Unavailable;
}

/// <summary>Polly's <see cref="ChaosLatencyStrategyOptions"/>; off by default.</summary>
public sealed class IpcChaosLatencyOptions : ChaosLatencyStrategyOptions
{
    /// <summary>Creates the options, disabled.</summary>
    public IpcChaosLatencyOptions()
    {
        Name = "ChaosLatency"; // Polly's own default is "Chaos.Latency"
        Enabled = false;
    }
}

/// <summary>Polly's <see cref="ChaosOutcomeStrategyOptions{TResult}"/> returning a response that carries a fault with <see cref="ErrorCode"/>; off by default.</summary>
public sealed class IpcChaosOutcomeOptions : ChaosOutcomeStrategyOptions<IpcMessage>
{
    /// <summary>Creates the options, disabled.</summary>
    public IpcChaosOutcomeOptions()
    {
        Name = "ChaosOutcome"; // Polly's own default is "Chaos.Outcome"
        Enabled = false;
        OutcomeGenerator = args => new ValueTask<Polly.Outcome<IpcMessage>?>(Polly.Outcome.FromResult(new IpcMessage("chaos")
        {
            Fault = new IpcFault(ErrorCode, $"Fault response injected by the chaos strategy (Resilience:Chaos:Outcome) on route '{args.Context.OperationKey}'."),
        }));
    }

    /// <summary>Gets or sets the code of the fault the injected response carries.</summary>
    /// <value>The default value is <see cref="IpcErrorCode.RemoteError"/>.</value>
    public IpcErrorCode ErrorCode { get; set; } = IpcErrorCode.RemoteError;
}
