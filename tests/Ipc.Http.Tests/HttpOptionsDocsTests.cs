using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Http.Tests;

/// <summary>The options table of docs/http.md against <see cref="HttpTransportOptions"/> and its validator.</summary>
public sealed class HttpOptionsDocsTests
{
    private const string Document = "docs/http.md";

    private static IReadOnlyList<OptionsRow> Rows => OptionsDocs.Table(Document);

    [Fact]
    public void OptionsTable_NamesEveryOptionWithItsBoundDefault()
    {
        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(OptionsDocs.Bound<HttpTransportOptions>(ipc => ipc.AddHttp()), Rows)
            .Concat(OptionsDocs.CheckCoverage(typeof(HttpTransportOptions), Rows, document: Document)));
    }

    [Fact]
    public void OptionsTable_RangesAreWhatTheValidatorAccepts()
    {
        var (problems, checkedKeys, unstated) = OptionsDocs.CheckRanges(Rows, () => new HttpTransportOptions(), new HttpTransportOptionsValidator(), (key, options) =>
        {
            if (key == nameof(HttpTransportOptions.MaxConcurrentSends))
            {
                options.MaxConnectionsPerServer = 10_000; // MaxConcurrentSends must stay below it
            }
        });

        OptionsDocs.AssertNone(problems);
        Assert.Equal(["MaxConnectionsPerServer", "MaxConcurrentSends", "MaxQueuedOneWayMessages", "MaxQueuedOneWayBytes", "MaxConnections"], checkedKeys);
        Assert.Empty(unstated);
    }
}
