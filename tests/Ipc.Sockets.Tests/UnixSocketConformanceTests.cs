using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketConformanceTests : TransportConformanceTests
{
    protected override string CreateAddress() => TestAddresses.NewUnixAddress();

    protected override ValueTask AssertReleasedAsync(string address)
    {
        Assert.False(File.Exists(UnixSocketTransport.PathOf(new Uri(address))), $"the socket file of {address} is still there");
        return default;
    }
}
