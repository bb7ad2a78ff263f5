using Polly.Retry;

namespace Ipc;

/// <summary>
/// Polly's <see cref="RetryStrategyOptions"/> with the Ipc retry rules as <see cref="RetryStrategyOptions{TResult}.ShouldHandle"/>:
/// only transient failures (<see cref="IpcErrorCode.Unavailable"/>, an attempt that timed out) are retried, and only
/// when the call was not accepted (<see cref="IpcException.NotAccepted"/>), unless it is idempotent (the endpoint's
/// <see cref="IpcResilienceOptions.Idempotent"/>, its <see cref="IpcResilienceOptions.IdempotentRoutes"/>, or the call's
/// <c>IpcCallOptions.Idempotent</c>): calls run at most once otherwise.
/// </summary>
/// <remarks>
/// Use it in a pipeline of your own (<c>builder.AddRetry(new IpcRetryStrategyOptions())</c>) to keep these rules; the runtime
/// tells it what kind of call each execution is.
/// </remarks>
public class IpcRetryStrategyOptions : RetryStrategyOptions
{
    /// <summary>Creates the options with the Ipc retry rules.</summary>
    public IpcRetryStrategyOptions()
    {
        ShouldHandle = DefaultShouldHandle;
    }

    /// <summary>The Ipc retry rules: a call that succeeded is never retried, so a pipeline with them need not wait on one that did.</summary>
    internal static readonly Func<RetryPredicateArguments<object>, ValueTask<bool>> DefaultShouldHandle =
        static args => new ValueTask<bool>(IpcResiliencePredicates.ShouldRetry(args.Outcome.Exception, args.Context));
}
