using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Streams.Tests;

/// <summary>In-process pipe pairs: a medium that is not a stream, on the stream core's seam alone.</summary>
/// <remarks>The region is the code shown in docs/writing-a-transport.md: a transport's conformance tests on the public API alone.</remarks>
#region conformance-subclass
public sealed class PipePairTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => $"{PipePairTransport.Scheme}://conformance-{Guid.NewGuid():N}";

    public override void ConfigureIpc(IIpcBuilder ipc) => ipc.AddTransport<PipePairTransport>();

    public override ValueTask AssertReleasedAsync(string address)
    {
        Assert.False(PipePairTransport.IsListening(new Uri(address)), $"{address} is still registered");
        return default;
    }
}

[Trait("Transport", "PipePair")]
public sealed class PipePairRequestResponseTests : RequestResponseConformanceTests<PipePairTransportUnderTest>;

[Trait("Transport", "PipePair")]
public sealed class PipePairOneWayTests : OneWayConformanceTests<PipePairTransportUnderTest>;

[Trait("Transport", "PipePair")]
public sealed class PipePairOrderedTests : OrderedConformanceTests<PipePairTransportUnderTest>;

[Trait("Transport", "PipePair")]
public sealed class PipePairStreamingTests : StreamingConformanceTests<PipePairTransportUnderTest>;

[Trait("Transport", "PipePair")]
public sealed class PipePairCancellationTests : CancellationConformanceTests<PipePairTransportUnderTest>;

[Trait("Transport", "PipePair")]
public sealed class PipePairConnectionTests : ConnectionConformanceTests<PipePairTransportUnderTest>;
#endregion
