using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

/// <summary>
/// The deadline field of docs/wire-format.md, written byte for byte from that page: flag bit 3 <c>HasTimeout</c> and a
/// varint of milliseconds after the message id.
/// </summary>
[Trait("Transport", "UnixSocket")]
public sealed class WireFormatDeadlineTests
{
    private static readonly byte[] s_preface = [0x49, 0x50, 0x43, 0x57, 2, 0, 0, 0];

    /// <summary>What a server sends first: its preface and its Settings frame (16-byte header, 8-byte body).</summary>
    private static readonly int s_opening = s_preface.Length + 16 + 8;

    [Theory]
    [InlineData(new byte[] { 0x88, 0x27 }, false)] // 5,000 ms left: answered
    [InlineData(new byte[] { 0x00 }, true)] // none left: not run, a Timeout fault
    public async Task Request_HasTimeout_ServerKeepsToTheTimeLeft(byte[] timeout, bool expired)
    {
        var address = TestAddresses.NewUnixAddress();
        using var server = await TestIpc.StartServerAsync(address);
        byte[] metadata = [3, .. "raw"u8, 2, .. "m1"u8, .. timeout, 0]; // the raw route answers with the body reversed
        byte[] body = [1, 2, 3];
        const byte hasTimeout = 0x08;

        var response = await ExchangeAsync(address, [.. s_preface, .. Header(0x01, hasTimeout, 1, metadata.Length, body.Length), .. metadata, .. body]);

        Assert.Equal(0x02, response[0]); // a Response
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(response.AsSpan(4)));
        var responseBody = response.AsSpan(16 + (int)BinaryPrimitives.ReadUInt32LittleEndian(response.AsSpan(8)));
        if (expired)
        {
            Assert.Equal(0x02, response[1] & (0x02 | 0x08)); // Fault, and no HasTimeout: responses carry none
            Assert.Equal((byte)IpcErrorCode.Timeout, responseBody[0]);
            Assert.Contains("deadline", Encoding.UTF8.GetString(responseBody[2..]), StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(0, response[1] & (0x02 | 0x08)); // neither Fault nor HasTimeout
            Assert.Equal([3, 2, 1], responseBody.ToArray());
        }
    }

    /// <summary>Sends <paramref name="input"/> and returns the first frame after the server's preface and Settings.</summary>
    private static async Task<byte[]> ExchangeAsync(string address, byte[] input)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(UnixSocketTransport.PathOf(new Uri(address))));
        await socket.SendAsync(input);
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        while (!HasFrame(received))
        {
            var read = await socket.ReceiveAsync(buffer, bound.Token);
            Assert.True(read > 0, "the server closed the connection instead of answering");
            received.AddRange(buffer.AsSpan(0, read));
        }

        return [.. received.Skip(s_opening)];
    }

    private static bool HasFrame(List<byte> received)
    {
        if (received.Count < s_opening + 16)
        {
            return false;
        }

        var header = received.Skip(s_opening).Take(16).ToArray();
        var length = 16 + BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)) + BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        return received.Count >= s_opening + length;
    }

    private static byte[] Header(byte type, byte flags, uint callId, int metadataLength, int bodyLength)
    {
        var header = new byte[16];
        header[0] = type;
        header[1] = flags;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), callId);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)metadataLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), (uint)bodyLength);
        return header;
    }
}
