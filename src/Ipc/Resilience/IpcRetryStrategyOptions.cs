using Polly.Retry;

namespace Ipc;

/// <summary>
/// Polly's <see cref="RetryStrategyOptions"/> with the Ipc retry rules as <see cref="RetryStrategyOptions{TResult}.ShouldHandle"/>:
/// only transient failures (<see cref="IpcErrorCode.Unavailable"/>, an attempt that timed out) are retried, and a one-way
/// message only when it was not accepted, unless the endpoint is idempotent.
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
        ShouldHandle = static args => new ValueTask<bool>(IpcResiliencePredicates.ShouldRetry(args.Outcome.Exception, args.Context));
    }
}
