using Polly;

namespace Ipc.Resilience;

/// <summary>
/// When the timeouts of a call run out, recorded by the pipeline's timeout strategies as they start, so that an attempt
/// can send the time it has left with its request (<see cref="IpcMessage.Timeout"/>).
/// </summary>
internal static class CallDeadlines
{
    /// <summary>The longest remaining time recorded: about 24.8 days, the most the stream wire format carries.</summary>
    private static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>The timestamp at which the call's total timeout runs out.</summary>
    private static readonly ResiliencePropertyKey<long> Total = new("Ipc.TotalDeadline");

    /// <summary>The timestamp at which the current attempt's timeout runs out.</summary>
    private static readonly ResiliencePropertyKey<long> Attempt = new("Ipc.AttemptDeadline");

    /// <summary>Records that the total timeout of the call starts now; returns <paramref name="timeout"/>, for a timeout generator.</summary>
    public static TimeSpan StartTotal(ResilienceContext context, TimeSpan timeout, TimeProvider time) => Start(context, Total, timeout, time);

    /// <summary>Records that the attempt timeout starts now; returns <paramref name="timeout"/>, for a timeout generator.</summary>
    public static TimeSpan StartAttempt(ResilienceContext context, TimeSpan timeout, TimeProvider time) => Start(context, Attempt, timeout, time);

    /// <summary>
    /// The time the attempt has left (the sooner of its attempt and total deadlines, and <paramref name="own"/>, a remaining
    /// time the caller set on the message); <see langword="null"/> when nothing bounds it.
    /// </summary>
    public static TimeSpan? Remaining(ResilienceContext context, TimeSpan? own, TimeProvider time)
    {
        var properties = context.Properties;
        var total = properties.GetValue(Total, long.MaxValue);
        var attempt = properties.GetValue(Attempt, long.MaxValue);
        var deadline = Math.Min(total, attempt);
        if (deadline == long.MaxValue)
        {
            return own;
        }

        var now = time.GetTimestamp();
        var remaining = deadline <= now ? TimeSpan.Zero : time.GetElapsedTime(now, deadline);
        return own is { } value && value < remaining ? value : remaining;
    }

    private static TimeSpan Start(ResilienceContext context, ResiliencePropertyKey<long> key, TimeSpan timeout, TimeProvider time)
    {
        if (timeout > TimeSpan.Zero && timeout <= Longest) // longer ones (and infinite ones) bound nothing a server can tell
        {
            var ticks = (long)(timeout.TotalSeconds * time.TimestampFrequency); // in the provider's timestamp units
            context.Properties.Set(key, time.GetTimestamp() + ticks);
        }

        return timeout;
    }
}
