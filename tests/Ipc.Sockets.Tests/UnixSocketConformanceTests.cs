using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

public sealed class UnixSocketTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => TestAddresses.NewUnixAddress();

    public override void AssertRemoteAddress(string? remoteAddress) => RemoteAddresses.AssertThisProcess(remoteAddress);

    public override ValueTask AssertReleasedAsync(string address)
    {
        Assert.False(File.Exists(UnixSocketTransport.PathOf(new Uri(address))), $"the socket file of {address} is still there");
        return default;
    }
}

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketRequestResponseTests : RequestResponseConformanceTests<UnixSocketTransportUnderTest>;

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketOneWayTests : OneWayConformanceTests<UnixSocketTransportUnderTest>;

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketOrderedTests : OrderedConformanceTests<UnixSocketTransportUnderTest>;

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketStreamingTests : StreamingConformanceTests<UnixSocketTransportUnderTest>;

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketCancellationTests : CancellationConformanceTests<UnixSocketTransportUnderTest>;

[Trait("Transport", "UnixSocket")]
public sealed class UnixSocketConnectionTests : ConnectionConformanceTests<UnixSocketTransportUnderTest>;
