using Ipc.InMemory;
using Ipc.Testing;

namespace Ipc.Tests.InMemory;

public sealed class InMemoryTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => $"inmemory://conformance-{Guid.NewGuid():N}";

    public override void AssertRemoteAddress(string? remoteAddress) => Assert.Null(remoteAddress); // no peer in one process

    public override ValueTask AssertReleasedAsync(string address)
    {
        Assert.True(InMemoryHub.All(InMemoryTransport.Key(new Uri(address))).IsEmpty, $"{address} is still registered");
        return default;
    }
}

[Trait("Transport", "InMemory")]
public sealed class InMemoryRequestResponseTests : RequestResponseConformanceTests<InMemoryTransportUnderTest>;

[Trait("Transport", "InMemory")]
public sealed class InMemoryOneWayTests : OneWayConformanceTests<InMemoryTransportUnderTest>;

[Trait("Transport", "InMemory")]
public sealed class InMemoryOrderedTests : OrderedConformanceTests<InMemoryTransportUnderTest>;

[Trait("Transport", "InMemory")]
public sealed class InMemoryStreamingTests : StreamingConformanceTests<InMemoryTransportUnderTest>;

[Trait("Transport", "InMemory")]
public sealed class InMemoryCancellationTests : CancellationConformanceTests<InMemoryTransportUnderTest>;

[Trait("Transport", "InMemory")]
public sealed class InMemoryPublishSubscribeConformanceTests : PublishSubscribeConformanceTests<InMemoryTransportUnderTest>;

[Trait("Transport", "InMemory")]
public sealed class InMemoryConnectionTests : ConnectionConformanceTests<InMemoryTransportUnderTest>;
