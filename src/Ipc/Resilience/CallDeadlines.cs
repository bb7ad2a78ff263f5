using Polly;

namespace Ipc.Resilience;

/// <summary>
/// When the timeouts of a call run out, so that an attempt can send the time it has left with its request
/// (<see cref="IpcMessage.Timeout"/>): the total timeout's deadline is taken by the client as the call starts and handed to
/// each attempt; the attempt timeout's is recorded by its strategy as it starts, in the call's resilience context.
/// </summary>
internal static class CallDeadlines
{
    /// <summary>The longest remaining time recorded: about 24.8 days, the most the stream wire format carries.</summary>
    private static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>The timestamp at which the current attempt's timeout runs out.</summary>
    private static readonly ResiliencePropertyKey<long> Attempt = new("Ipc.AttemptDeadline");

    /// <summary>
    /// The timestamp at which a timeout of <paramref name="timeout"/> that starts now runs out, in the provider's units;
    /// <see cref="long.MaxValue"/> when it bounds nothing a server can tell (zero, negative, infinite, or over <see cref="Longest"/>).
    /// </summary>
    public static long Deadline(TimeSpan timeout, TimeProvider time) =>
        timeout > TimeSpan.Zero && timeout <= Longest ? time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency) : long.MaxValue;

    /// <summary>Records that the attempt timeout starts now; returns <paramref name="timeout"/>, for a timeout generator.</summary>
    public static TimeSpan StartAttempt(ResilienceContext context, TimeSpan timeout, TimeProvider time)
    {
        var deadline = Deadline(timeout, time);
        if (deadline != long.MaxValue)
        {
            context.Properties.Set(Attempt, deadline);
        }

        return timeout;
    }

    /// <summary>
    /// The time the attempt has left (the sooner of the call's <paramref name="totalDeadline"/>, its attempt deadline, and
    /// <paramref name="own"/>, a remaining time the caller set on the message); <see langword="null"/> when nothing bounds it.
    /// </summary>
    public static TimeSpan? Remaining(ResilienceContext context, long totalDeadline, TimeSpan? own, TimeProvider time)
    {
        var deadline = Math.Min(totalDeadline, context.Properties.GetValue(Attempt, long.MaxValue));
        if (deadline == long.MaxValue)
        {
            return own;
        }

        var now = time.GetTimestamp();
        var remaining = deadline <= now ? TimeSpan.Zero : time.GetElapsedTime(now, deadline);
        return own is { } value && value < remaining ? value : remaining;
    }
}
