using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

[Trait("Transport", "Tcp")]
public sealed class TcpConformanceTests : TransportConformanceTests
{
    protected override string CreateAddress() => TestAddresses.NewTcpAddress();
}
