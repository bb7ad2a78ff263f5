using Microsoft.Extensions.DependencyInjection;
using Ipc.Testing;

namespace Ipc.Streams.Tests;

/// <summary>The whole conformance suite over a medium that is not a stream: in-process pipe pairs on the stream core's seam.</summary>
[Trait("Transport", "PipePair")]
public sealed class PipePairConformanceTests : TransportConformanceTests
{
    protected override string CreateAddress() => $"{PipePairTransport.Scheme}://conformance-{Guid.NewGuid():N}";

    protected override void ConfigureIpc(IIpcBuilder ipc) => ipc.AddTransport<PipePairTransport>();

    protected override ValueTask AssertReleasedAsync(string address)
    {
        Assert.False(PipePairTransport.IsListening(new Uri(address)), $"{address} is still registered");
        return default;
    }
}
