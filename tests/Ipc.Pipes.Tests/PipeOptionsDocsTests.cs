using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Pipes.Tests;

/// <summary>The options table of docs/pipes.md against <see cref="PipeTransportOptions"/> and its validator.</summary>
public sealed class PipeOptionsDocsTests
{
    private const string Document = "docs/pipes.md";

    private static IReadOnlyList<OptionsRow> Rows => OptionsDocs.Table(Document);

    [Fact]
    public void OptionsTable_NamesEveryOptionWithItsBoundDefault()
    {
        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(OptionsDocs.Bound<PipeTransportOptions>(ipc => ipc.AddPipes()), Rows)
            .Concat(OptionsDocs.CheckCoverage(typeof(PipeTransportOptions), Rows, document: Document)));
    }

    [Fact]
    public void OptionsTable_RangesAreWhatTheValidatorAccepts()
    {
        var (problems, checkedKeys, unstated) = OptionsDocs.CheckRanges(Rows, () => new PipeTransportOptions(), new PipeTransportOptionsValidator());

        OptionsDocs.AssertNone(problems);

        Assert.Equal(
            ["ConnectionPoolSize", "MaxHeaderSize", "HandshakeTimeout", "MaxConcurrentCallsPerConnection", "MaxQueuedOneWayMessages", "MaxQueuedOneWayBytes",
             "MaxOutputBufferSize", "FrameTimeout", "MaxConnections", "MaxDedicatedReaders", "ReaderSpin"],
            checkedKeys);

        // Written otherwise, so not checked here: "at most one day".
        Assert.Equal(["IdleTimeout"], unstated);
    }
}
