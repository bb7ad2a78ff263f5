using Polly;
using Polly.Timeout;

namespace Ipc;

/// <summary>The failures the Ipc resilience strategies act on.</summary>
internal static class IpcResiliencePredicates
{
    /// <summary>Set by the client on one-way sends and publishes of endpoints that are not idempotent.</summary>
    internal static readonly ResiliencePropertyKey<bool> RetryOnlyIfNotAccepted = new("Ipc.RetryOnlyIfNotAccepted");

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

        // A one-way message that may have been accepted could be handled twice: retry it only when the transport says it was not.
        return !context.Properties.GetValue(RetryOnlyIfNotAccepted, false) || exception is IpcException { NotAccepted: true };
    }
}
