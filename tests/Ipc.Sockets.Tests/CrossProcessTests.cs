using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

public sealed class CrossProcessTests
{
    [Fact]
    [Trait("Transport", "UnixSocket")]
    public Task RequestAsync_UnixSocketServerInAnotherProcess_Answers() => TestIpc.AssertServedFromAnotherProcessAsync(TestAddresses.NewUnixAddress());

    [Fact]
    [Trait("Transport", "Tcp")]
    public Task RequestAsync_TcpServerInAnotherProcess_Answers() => TestIpc.AssertServedFromAnotherProcessAsync(TestAddresses.NewTcpAddress());
}
