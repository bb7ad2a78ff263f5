using System.Net;
using System.Net.Sockets;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

[Trait("Transport", "Tcp")]
public sealed class TcpTransportTests
{
    [Fact]
    public async Task StartAsync_AddressWithPassword_FailsValidationWithoutShowingIt() =>
        await TestIpc.AssertRefusesCredentialsAsync($"tcp://127.0.0.1:{TestAddresses.FreePort()}", "a tcp:// address has no user name or password");

    [Fact]
    public async Task StartAsync_AddressInUse_ThrowsIpcExceptionNamingEndpointAndAddress()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var port = ((IPEndPoint)holder.LocalEndPoint!).Port;

        var ex = await Assert.ThrowsAsync<IpcException>(() => TestIpc.StartServerAsync($"tcp://127.0.0.1:{port}"));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Contains($"'{TestIpc.Endpoint}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("already in use", ex.Message, StringComparison.Ordinal);
        Assert.IsType<SocketException>(ex.InnerException);
    }
}
