using Ipc.Transports.Streams;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Streams.Tests;

public sealed class ReplacementBudgetTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Replaced_LimitWithinTheWindow_StopsReaderWorkUntilTheWindowEnds()
    {
        var budget = new ReplacementBudget(_time);
        for (var i = 1; i < ReplacementBudget.Limit; i++)
        {
            Assert.False(budget.Replaced());
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.True(budget.AllowsReaderWork);
        Assert.True(budget.Replaced());
        Assert.False(budget.AllowsReaderWork);

        // The window started with the first replacement, 15 seconds before the last.
        _time.Advance(ReplacementBudget.Window - TimeSpan.FromSeconds(ReplacementBudget.Limit));
        Assert.False(budget.TryResume());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(budget.TryResume());
        Assert.True(budget.AllowsReaderWork);
        Assert.Equal(0, budget.Count);
        Assert.False(budget.TryResume());
    }

    [Fact]
    public void Replaced_SpreadOverWindows_NeverStopsReaderWork()
    {
        var budget = new ReplacementBudget(_time);
        for (var i = 0; i < 4 * ReplacementBudget.Limit; i++)
        {
            Assert.False(budget.Replaced());
            _time.Advance(ReplacementBudget.Window / (ReplacementBudget.Limit / 2));
        }

        Assert.True(budget.AllowsReaderWork);
        Assert.False(budget.TryResume()); // nothing to resume from
    }
}
