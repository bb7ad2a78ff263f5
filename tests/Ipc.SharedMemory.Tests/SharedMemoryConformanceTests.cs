using Ipc.Testing;

namespace Ipc.SharedMemory.Tests;

public sealed class SharedMemoryTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => SharedMemoryFiles.NewAddress();

    public override void AssertRemoteAddress(string? remoteAddress) => Ipc.TestUtils.RemoteAddresses.AssertThisProcess(remoteAddress);

    public override ValueTask AssertReleasedAsync(string address)
    {
        Assert.Empty(SharedMemoryFiles.Of(new Uri(address).Host));
        return default;
    }
}

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryRequestResponseTests : RequestResponseConformanceTests<SharedMemoryTransportUnderTest>;

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryOneWayTests : OneWayConformanceTests<SharedMemoryTransportUnderTest>;

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryOrderedTests : OrderedConformanceTests<SharedMemoryTransportUnderTest>;

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryStreamingTests : StreamingConformanceTests<SharedMemoryTransportUnderTest>;

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryCancellationTests : CancellationConformanceTests<SharedMemoryTransportUnderTest>;

[Trait("Transport", "SharedMemory")]
public sealed class SharedMemoryConnectionTests : ConnectionConformanceTests<SharedMemoryTransportUnderTest>;
