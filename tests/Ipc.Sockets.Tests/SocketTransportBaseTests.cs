using System.Net;
using System.Net.Sockets;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Sockets.Tests;

/// <summary>What a client of either socket transport reports when no server answers, or when the server goes away mid-call.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SocketTransportBaseTests
{
    private static readonly byte[] s_preface = "IPCW"u8.ToArray().Concat(new byte[] { 2, 0, 0, 0 }).ToArray();

    /// <summary>A server's Settings frame: 100 calls in flight, 1,024 one-way messages.</summary>
    private static readonly byte[] s_settings = [0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 100, 0, 0, 0, 0, 4, 0, 0];

    [Theory]
    [InlineData("unix")]
    [InlineData("unix with a stale socket file")]
    [InlineData("tcp")]
    public async Task RequestAsync_NoServer_FailsAtOnceWithUnavailableNamingTheAddress(string kind)
    {
        var address = kind == "tcp" ? TestAddresses.NewTcpAddress() : TestAddresses.NewUnixAddress();
        if (kind == "unix with a stale socket file")
        {
            LeaveStaleSocketFile(UnixSocketTransport.PathOf(new Uri(address)));
        }

        await TestIpc.AssertNoServerFailsAtOnceAsync(address);
    }

    [Theory]
    [InlineData("unix")]
    [InlineData("tcp")]
    public async Task RequestAsync_ServerGoneMidCall_ThrowsUnavailableLostDuringTheCall(string kind)
    {
        var address = kind == "tcp" ? TestAddresses.NewTcpAddress() : TestAddresses.NewUnixAddress();
        var uri = new Uri(address);
        using var listener = kind == "tcp"
            ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(kind == "tcp" ? new IPEndPoint(IPAddress.Loopback, uri.Port) : new UnixDomainSocketEndPoint(UnixSocketTransport.PathOf(uri)));
        listener.Listen();

        // A server that answers the handshake, reads the start of the request, and goes away without a word.
        var server = Task.Run(async () =>
        {
            using var connection = await listener.AcceptAsync();
            var buffer = new byte[s_preface.Length];
            for (var read = 0; read < buffer.Length;)
            {
                read += await connection.ReceiveAsync(buffer.AsMemory(read));
            }

            await connection.SendAsync(s_preface.Concat(s_settings).ToArray());
            await connection.ReceiveAsync(buffer); // the request
        });
        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

        var call = client.Requests().RequestAsync<string, string>("echo", "x").AsTask();
        await server.WaitAsync(TestIpc.Bound);
        var ex = await Assert.ThrowsAsync<IpcException>(() => call.WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.False(ex.NotAccepted);
        Assert.Contains("was lost during the call", ex.Message, StringComparison.Ordinal);
        Assert.Contains(address, ex.Message, StringComparison.Ordinal);
    }

    private static void LeaveStaleSocketFile(string path)
    {
        using var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

        // .NET removes the file of a socket it closes; moving the file away first leaves a dead one behind, as a crash would.
        dead.Bind(new UnixDomainSocketEndPoint(path));
        File.Move(path, path + ".dead");
        dead.Dispose();
        File.Move(path + ".dead", path);
    }
}
