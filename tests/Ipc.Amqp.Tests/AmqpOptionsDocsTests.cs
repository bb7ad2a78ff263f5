using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Amqp.Tests;

/// <summary>The options table of docs/amqp.md against <see cref="AmqpTransportOptions"/> and its validator.</summary>
public sealed class AmqpOptionsDocsTests
{
    private const string Document = "docs/amqp.md";

    private static IReadOnlyList<OptionsRow> Rows => OptionsDocs.Table(Document);

    [Fact]
    public void OptionsTable_NamesEveryOptionWithItsBoundDefault()
    {
        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(OptionsDocs.Bound<AmqpTransportOptions>(ipc => ipc.AddAmqp()), Rows)
            .Concat(OptionsDocs.CheckCoverage(typeof(AmqpTransportOptions), Rows, document: Document)));
    }

    [Fact]
    public void OptionsTable_RangesAreWhatTheValidatorAccepts()
    {
        var (problems, checkedKeys, unstated) = OptionsDocs.CheckRanges(Rows, () => new AmqpTransportOptions(), new AmqpTransportOptionsValidator());

        OptionsDocs.AssertNone(problems);

        Assert.Equal(["Prefetch", "MaxDeliveries", "Heartbeat", "RecoveryInterval"], checkedKeys);

        // QueueExpiry's "at least 1 second" is a check of the validator, not a range attribute: not checked here.
        Assert.Empty(unstated);
    }
}
