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

    /// <summary>
    /// Set by the client on every call: the caller's <see cref="CancellationToken"/> (boxed) when it can be cancelled,
    /// otherwise <see cref="s_notCancellable"/>. An attempt cancelled while the caller's token is not was cut short by the
    /// call's timeout.
    /// </summary>
    internal static readonly ResiliencePropertyKey<object> CallerCancellation = new("Ipc.CallerCancellation");

    private static readonly object s_notCancellable = new();

    /// <summary>The value of <see cref="CallerCancellation"/> for <paramref name="cancellationToken"/>; no allocation unless it can be cancelled.</summary>
    internal static object Caller(CancellationToken cancellationToken) => cancellationToken.CanBeCanceled ? cancellationToken : s_notCancellable;

    /// <summary>
    /// A failure the circuit breaker counts: a transient one, or an attempt of an Ipc call ended by the call's timeout
    /// (which cancels it, where the attempt timeout of an idempotent call raises a timeout): a call that fails with
    /// <see cref="IpcErrorCode.Timeout"/> counts whether or not it was retried. The caller's cancellation does not count.
    /// </summary>
    public static bool IsBreakerFailure(Exception? exception, ResilienceContext context) =>
        IsTransient(exception)
        || (exception is OperationCanceledException
            && context.CancellationToken.IsCancellationRequested
            && context.Properties.TryGetValue(CallerCancellation, out var caller)
            && !(caller is CancellationToken token && token.IsCancellationRequested));

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
