using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.SharedMemory.Tests;

/// <summary>The options table of docs/shared-memory.md against <see cref="SharedMemoryTransportOptions"/> and its validator.</summary>
public sealed class SharedMemoryOptionsDocsTests
{
    private const string Document = "docs/shared-memory.md";

    private static IReadOnlyList<OptionsRow> Rows => OptionsDocs.Table(Document);

    [Fact]
    public void OptionsTable_NamesEveryOptionWithItsBoundDefault()
    {
        // The stream core's settings are documented "as for sockets": their defaults are read from that page's rows.
        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(OptionsDocs.Bound<SharedMemoryTransportOptions>(ipc => ipc.AddSharedMemory()), Rows)
            .Concat(OptionsDocs.CheckCoverage(typeof(SharedMemoryTransportOptions), Rows, document: Document)));
    }

    [Fact]
    public void OptionsTable_RangesAreWhatTheValidatorAccepts()
    {
        var (problems, checkedKeys, unstated) = OptionsDocs.CheckRanges(Rows, () => new SharedMemoryTransportOptions(), new SharedMemoryTransportOptionsValidator());

        OptionsDocs.AssertNone(problems);

        Assert.Equal(["RingSize", "ReaderSpin", "ListenBacklog", "MaxDedicatedReaders"], checkedKeys);

        // The stream core's settings are documented "as for sockets"; SocketOptionsDocsTests checks their ranges there.
        Assert.Equal(
            ["ConnectionPoolSize", "MaxHeaderSize", "HandshakeTimeout", "MaxConcurrentCallsPerConnection", "MaxQueuedOneWayMessages", "MaxQueuedOneWayBytes",
             "MaxOutputBufferSize", "IdleTimeout", "FrameTimeout", "MaxConnections"],
            unstated);
    }
}
