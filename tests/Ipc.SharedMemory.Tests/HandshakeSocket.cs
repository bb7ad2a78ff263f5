using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Ipc.TestUtils;

namespace Ipc.SharedMemory.Tests;

/// <summary>The client's side of a server's handshake socket, step by step, for tests that stop in the middle of it.</summary>
internal static class HandshakeSocket
{
    /// <summary>Connects to the handshake socket of server <paramref name="name"/> in the default folder.</summary>
    public static async Task<Socket> ConnectAsync(string name)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SharedMemoryTransport.SocketPath(SharedMemoryFiles.Directory, name)));
        return socket;
    }

    /// <summary>Reads the server's hello, which accepts the client, and returns the name of the segment file it made for it.</summary>
    public static async Task<string> ReceiveSegmentNameAsync(Socket socket)
    {
        var head = new byte[3];
        await ReceiveExactlyAsync(socket, head);
        Assert.Equal(0, head[0]);
        var text = new byte[BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(1))];
        await ReceiveExactlyAsync(socket, text);
        return Encoding.UTF8.GetString(text);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None).AsTask().WaitAsync(TestIpc.Bound);
            Assert.NotEqual(0, read);
            buffer = buffer[read..];
        }
    }
}
