using Polly.CircuitBreaker;

namespace Ipc;

/// <summary>
/// Polly's <see cref="CircuitBreakerStrategyOptions"/> counting only transient failures (<see cref="IpcErrorCode.Unavailable"/>,
/// timeouts, an Ipc call ended by its total timeout): a handler that fails, a bad message or a missing route says nothing
/// about whether the endpoint is reachable, nor does a call its caller cancelled.
/// </summary>
public class IpcCircuitBreakerStrategyOptions : CircuitBreakerStrategyOptions
{
    /// <summary>Creates the options with the Ipc failure rule.</summary>
    public IpcCircuitBreakerStrategyOptions()
    {
        ShouldHandle = static args => new ValueTask<bool>(IpcResiliencePredicates.IsBreakerFailure(args.Outcome.Exception, args.Context));
    }
}
