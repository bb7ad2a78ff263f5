using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

public sealed class TcpTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => TestAddresses.NewTcpAddress();

    public override void AssertRemoteAddress(string? remoteAddress) => RemoteAddresses.AssertLoopback(remoteAddress);
}

[Trait("Transport", "Tcp")]
public sealed class TcpRequestResponseTests : RequestResponseConformanceTests<TcpTransportUnderTest>;

[Trait("Transport", "Tcp")]
public sealed class TcpOneWayTests : OneWayConformanceTests<TcpTransportUnderTest>;

[Trait("Transport", "Tcp")]
public sealed class TcpOrderedTests : OrderedConformanceTests<TcpTransportUnderTest>;

[Trait("Transport", "Tcp")]
public sealed class TcpStreamingTests : StreamingConformanceTests<TcpTransportUnderTest>;

[Trait("Transport", "Tcp")]
public sealed class TcpCancellationTests : CancellationConformanceTests<TcpTransportUnderTest>;

[Trait("Transport", "Tcp")]
public sealed class TcpConnectionTests : ConnectionConformanceTests<TcpTransportUnderTest>;
