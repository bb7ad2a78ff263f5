using Ipc.Transports.Streams;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Streams.Tests;

public sealed class ReaderWatchdogTests
{
    private readonly CountingTimeProvider _time = new();

    [Fact]
    public void For_SameTimeProvider_ReturnsTheSameWatchdog()
    {
        Assert.Same(ReaderWatchdog.For(_time), ReaderWatchdog.For(_time));
        Assert.NotSame(ReaderWatchdog.For(_time), ReaderWatchdog.For(new FakeTimeProvider()));
    }

    [Fact]
    public void Watch_FirstCall_StartsTicksEveryThresholdOnTheGivenClock()
    {
        var watchdog = ReaderWatchdog.For(_time);

        watchdog.Watch();
        watchdog.Watch();

        Assert.Equal([(ReaderWatchdog.Threshold, ReaderWatchdog.Threshold)], _time.Starts);
    }

    [Fact]
    public void Watch_AfterTheChecksFoundNothingForAWhile_StartsThemAgain()
    {
        var watchdog = ReaderWatchdog.For(_time);
        watchdog.Watch();

        // No reader runs work, so the checks stop themselves; a bounded number of idle ticks, not real time.
        for (var i = 0; i < 1_000 && _time.Stops == 0; i++)
        {
            _time.Advance(ReaderWatchdog.Threshold);
        }

        Assert.Equal(1, _time.Stops);
        watchdog.Watch();
        Assert.Equal(2, _time.Starts.Count);
    }

    /// <summary>A fake clock that records when its timers are started (a finite due time) and stopped.</summary>
    private sealed class CountingTimeProvider : FakeTimeProvider
    {
        public List<(TimeSpan DueTime, TimeSpan Period)> Starts { get; } = [];

        public int Stops { get; private set; }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new CountingTimer(base.CreateTimer(callback, state, dueTime, period), this, dueTime, period);

        private void Changed(TimeSpan dueTime, TimeSpan period)
        {
            lock (Starts)
            {
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    Stops++;
                }
                else
                {
                    Starts.Add((dueTime, period));
                }
            }
        }

        private sealed class CountingTimer : ITimer
        {
            private readonly ITimer _inner;
            private readonly CountingTimeProvider _owner;

            public CountingTimer(ITimer inner, CountingTimeProvider owner, TimeSpan dueTime, TimeSpan period)
            {
                _inner = inner;
                _owner = owner;
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    owner.Changed(dueTime, period);
                }
            }

            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                _owner.Changed(dueTime, period);
                return _inner.Change(dueTime, period);
            }

            public void Dispose() => _inner.Dispose();

            public ValueTask DisposeAsync() => _inner.DisposeAsync();
        }
    }
}
