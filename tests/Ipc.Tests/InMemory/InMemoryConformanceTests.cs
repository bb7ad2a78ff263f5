using Ipc.InMemory;
using Ipc.Testing;

namespace Ipc.Tests.InMemory;

#region conformance-subclass
[Trait("Transport", "InMemory")]
public sealed class InMemoryConformanceTests : TransportConformanceTests
{
    protected override string CreateAddress() => $"inmemory://conformance-{Guid.NewGuid():N}";

    protected override ValueTask AssertReleasedAsync(string address)
    {
        Assert.True(InMemoryHub.All(InMemoryTransport.Key(new Uri(address))).IsEmpty, $"{address} is still registered");
        return default;
    }
}
#endregion
