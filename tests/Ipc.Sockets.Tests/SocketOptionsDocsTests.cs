using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Sockets.Tests;

/// <summary>The options tables of docs/sockets.md against <see cref="SocketTransportOptions"/>, its <see cref="SocketTlsOptions"/> and its validator.</summary>
public sealed class SocketOptionsDocsTests
{
    private const string Document = "docs/sockets.md";

    /// <summary>How the tables write a default in words.</summary>
    private static readonly Dictionary<string, DefaultCheck> s_phrases = new(StringComparer.Ordinal)
    {
        ["the address's host"] = OptionsDocs.Null("the client uses the address's host"),
    };

    /// <summary>The first table, then the TLS table, whose keys are under <c>Tls</c>.</summary>
    private static IReadOnlyList<OptionsRow> Rows =>
        [.. OptionsDocs.Table(Document), .. OptionsDocs.Table(Document, occurrence: 1).Select(row => row with { Key = "Tls:" + row.Key })];

    [Fact]
    public void OptionsTables_NameEveryOptionWithItsBoundDefault()
    {
        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(OptionsDocs.Bound<SocketTransportOptions>(ipc => ipc.AddSockets()), Rows, s_phrases)
            .Concat(OptionsDocs.CheckCoverage(typeof(SocketTransportOptions), Rows, document: Document)));
    }

    [Fact]
    public void OptionsTables_RangesAreWhatTheValidatorAccepts()
    {
        var (problems, checkedKeys, unstated) = OptionsDocs.CheckRanges(Rows, () => new SocketTransportOptions(), new SocketTransportOptionsValidator());

        OptionsDocs.AssertNone(problems);

        Assert.Equal(
            ["KeepAliveTime", "KeepAliveInterval", "KeepAliveRetryCount", "ListenBacklog", "ConnectionPoolSize", "MaxHeaderSize", "HandshakeTimeout",
             "MaxConcurrentCallsPerConnection", "MaxQueuedOneWayMessages", "MaxQueuedOneWayBytes", "MaxOutputBufferSize", "FrameTimeout", "MaxConnections",
             "MaxDedicatedReaders", "ReaderSpin"],
            checkedKeys);

        // Written otherwise, so not checked here: "at most one day".
        Assert.Equal(["IdleTimeout"], unstated);
    }
}
