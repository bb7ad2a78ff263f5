using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Testing;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that tells a test when the code under test starts waiting on it: every timer armed
/// with a finite due time (a retry delay, a timeout) is reported, so the test advances time only once someone waits,
/// never racing the code it drives.
/// </summary>
/// <example>
/// <code>
/// var call = client.RequestAsync(...).AsTask();
/// await time.WaitForTimerAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15)); // the first retry delay is armed
/// time.Advance(TimeSpan.FromSeconds(1));
/// </code>
/// </example>
public sealed class TimerFakeTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _armed = Channel.CreateUnbounded<TimeSpan>();

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ReportingTimer(base.CreateTimer(callback, state, dueTime, period), this);
        Armed(dueTime);
        return timer;
    }

    /// <summary>Returns the due time of the next timer armed (in the order they were armed), waiting for one if needed.</summary>
    /// <param name="timeout">How long, in real time, to wait before failing.</param>
    /// <exception cref="TimeoutException">When no timer is armed within <paramref name="timeout"/>.</exception>
    public async Task<TimeSpan> WaitForTimerAsync(TimeSpan timeout)
    {
        using var bound = new CancellationTokenSource(timeout);
        return await ReadAsync(bound, timeout).ConfigureAwait(false);
    }

    /// <summary>Waits until a timer due in <paramref name="dueTime"/> is armed, passing over the others (such as timeouts).</summary>
    /// <param name="dueTime">The due time to wait for, for example a retry delay.</param>
    /// <param name="timeout">How long, in real time, to wait before failing.</param>
    /// <exception cref="TimeoutException">When no such timer is armed within <paramref name="timeout"/>.</exception>
    public async Task WaitForTimerAsync(TimeSpan dueTime, TimeSpan timeout)
    {
        using var bound = new CancellationTokenSource(timeout);
        while (await ReadAsync(bound, timeout).ConfigureAwait(false) != dueTime)
        {
        }
    }

    private async Task<TimeSpan> ReadAsync(CancellationTokenSource bound, TimeSpan timeout)
    {
        try
        {
            return await _armed.Reader.ReadAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new TimeoutException($"No timer was armed within {timeout}.");
        }
    }

    private void Armed(TimeSpan dueTime)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _armed.Writer.TryWrite(dueTime);
        }
    }

    private sealed class ReportingTimer(ITimer inner, TimerFakeTimeProvider owner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            owner.Armed(dueTime);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
