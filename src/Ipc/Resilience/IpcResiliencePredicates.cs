using Polly;
using Polly.Timeout;

namespace Ipc;

/// <summary>The failures the Ipc resilience strategies act on.</summary>
internal static class IpcResiliencePredicates
{
    /// <summary>Set by the client on every call not marked idempotent (by its endpoint, its route or its <c>IpcCallOptions</c>).</summary>
    internal static readonly ResiliencePropertyKey<bool> RetryOnlyIfNotAccepted = new("Ipc.RetryOnlyIfNotAccepted");

    /// <summary>The transient failure of the call's last attempt, which a breaker that refuses the retry must not hide.</summary>
    internal static readonly ResiliencePropertyKey<Exception> LastTransientFailure = new("Ipc.LastTransientFailure");

    /// <summary>A call's own timeout (<c>IpcCallOptions.Timeout</c>), replacing the total timeout.</summary>
    internal static readonly ResiliencePropertyKey<TimeSpan> CallTimeout = new("Ipc.CallTimeout");

    /// <summary>An attempt that timed out (Polly's attempt timeout) or failed with a transient Ipc error.</summary>
    public static bool IsTransient(Exception? exception) =>
        exception is TimeoutRejectedException || IpcException.IsTransientError(exception);

    public static bool ShouldRetry(Exception? exception, ResilienceContext context)
    {
        if (!IsTransient(exception))
        {
            return false;
        }

        // A call that may have reached its handler could run twice: retry it only when the transport says it was not
        // accepted, unless the call is marked idempotent.
        if (context.Properties.GetValue(RetryOnlyIfNotAccepted, false) && exception is not IpcException { NotAccepted: true })
        {
            return false;
        }

        // Remembered for the retry: should the circuit breaker refuse it, the call fails with this cause, not CircuitOpen.
        context.Properties.Set(LastTransientFailure, exception!);
        return true;
    }
}
