using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Sockets.Tests;

/// <summary>
/// Feeds a live server 10,000 malformed inputs, each on its own connection, built from docs/wire-format.md alone: random
/// bytes, truncated frames, lengths over the limits, valid frames with garbage payloads. The server must survive, must
/// not allocate what the oversized frames declare, and must keep answering a well-behaved client throughout.
/// </summary>
/// <remarks>
/// It runs alone: its allocation bound is read from the process-wide counter, which tests running beside it would add to.
/// </remarks>
[Trait("Transport", "UnixSocket")]
[Collection(nameof(MalformedInputTests))]
public sealed class MalformedInputTests
{
    private const int Inputs = 10_000;
    private const int Attackers = 4;
    private const int CheckEvery = 250;
    private const int MaxMessageSize = 64 * 1024;

    /// <summary>What the oversized frames declare: a server that buffered even one of them would allocate this much.</summary>
    private const long DeclaredOversize = 1536L * 1024 * 1024;

    private static readonly byte[] s_preface = "IPCW"u8.ToArray().Concat(new byte[] { 2, 0, 0, 0 }).ToArray();

    /// <summary>What a server sends before anything else: its preface and its Settings frame (16-byte header, 8-byte body).</summary>
    private static readonly int s_serverOpening = s_preface.Length + 16 + 8;

    [Fact]
    public async Task Listener_TenThousandMalformedInputs_SurvivesAndKeepsServingWellBehavedClient()
    {
        var address = TestAddresses.NewUnixAddress();
        var path = UnixSocketTransport.PathOf(new Uri(address));
        using var server = await TestIpc.StartServerAsync(address, endpoint: e => e.MaxMessageSize = MaxMessageSize);
        await using var client = TestIpc.CreateClient(address);
        var requests = client.Requests();
        await TestIpc.AssertServesAsync(client);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sent = 0;
        var checkpoints = 0;

        var attackers = Enumerable.Range(0, Attackers).Select(attacker => Task.Run(async () =>
        {
            var random = new Random(1000 + attacker);
            for (var i = attacker; i < Inputs; i += Attackers)
            {
                await SendAsync(path, Malformed(i % 8, random));
                if (Interlocked.Increment(ref sent) % CheckEvery == 0)
                {
                    // The well-behaved client, on its own connection, is answered while the attack goes on.
                    var sum = await requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(i, 1)).AsTask().WaitAsync(TestIpc.Bound);
                    Assert.Equal(i + 1, sum.Sum);
                    Interlocked.Increment(ref checkpoints);
                }
            }
        }));
        await Task.WhenAll(attackers).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(Inputs, sent);
        Assert.Equal(Inputs / CheckEvery, checkpoints);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.True(allocated < DeclaredOversize / 2, $"{allocated:N0} bytes were allocated during the attack; an oversized frame declares {DeclaredOversize:N0}");
        await TestIpc.AssertServesAsync(client);
        await using var fresh = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(fresh);
    }

    /// <summary>
    /// A request whose route, message id, correlation id or content type is not UTF-8 closes its connection unanswered,
    /// and the server goes on serving; the same request with every string valid (field -1) is answered on a connection
    /// that stays open. Each string is decoded by its own path (the correlation id is compared with the message id, the
    /// content type with the known media types), so each one is broken in turn.
    /// </summary>
    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Listener_StringFieldNotUtf8_ClosesOnlyThatConnectionUnanswered(int field)
    {
        var address = TestAddresses.NewUnixAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address);
        byte[][] strings = [.. new[] { ConformanceRoutes.Add, "m5", "m5", "application/x-msgpack" }.Select(Encoding.UTF8.GetBytes)];
        if (field >= 0)
        {
            strings[field] = [.. strings[field], 0xC3, 0x28]; // a lead byte followed by a byte that cannot continue it
        }

        byte[] metadata = [.. strings.SelectMany(text => (byte[])[(byte)text.Length, .. text]), 0];
        byte[] body = [0x92, 40, 2]; // MessagePack [40, 2]: an AddRequest
        const byte hasCorrelationIdAndContentType = 0x01 | 0x04;
        byte[] input = [.. s_preface, .. Header(0x01, hasCorrelationIdAndContentType, 21, (uint)metadata.Length, (uint)body.Length), .. metadata, .. body];

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(UnixSocketTransport.PathOf(new Uri(address))));
        await socket.SendAsync(input);
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        int read;
        while ((field >= 0 || received.Count < s_serverOpening + 16) && (read = await socket.ReceiveAsync(buffer, bound.Token)) > 0)
        {
            received.AddRange(buffer.AsSpan(0, read)); // a broken connection is read until the server closes it
        }

        Assert.Equal(0x0A, received[s_preface.Length]); // Settings
        var frame = received.ToArray().AsSpan(s_serverOpening);
        if (field < 0)
        {
            Assert.Equal(0x02, frame[0]); // a Response
            Assert.Equal(21u, BinaryPrimitives.ReadUInt32LittleEndian(frame[4..]));
        }
        else
        {
            // A GoAway, whose fault says ProtocolError and why, and nothing after it: no answer, and the connection closed.
            Assert.Equal(0x09, frame[0]);
            var bodyLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame[12..]);
            Assert.Equal(16 + bodyLength, frame.Length);
            Assert.Equal((byte)IpcErrorCode.ProtocolError, frame[16]);
            var reason = Encoding.UTF8.GetString(frame[18..]);
            var names = new[] { "route", "message id", "correlation id", "content type" };
            Assert.Contains($"the {names[field]} is not valid UTF-8", reason, StringComparison.Ordinal);
        }

        await TestIpc.AssertServesAsync(client);
    }

    /// <summary>Connects, sends <paramref name="input"/>, half-closes, and reads until the server closes the connection.</summary>
    private static async Task SendAsync(string path, byte[] input)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        try
        {
            await socket.SendAsync(input);
            socket.Shutdown(SocketShutdown.Send);
            var buffer = new byte[4096];
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            while (await socket.ReceiveAsync(buffer, bound.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // The server may reset a connection it refused before reading all of it; that is a fine answer too.
        }
    }

    private static byte[] Malformed(int kind, Random random) => kind switch
    {
        0 => RandomBytes(random, random.Next(1, 512)),
        1 => [.. s_preface, .. RandomBytes(random, random.Next(1, 512))],
        2 => Truncated(random),
        3 => [.. s_preface, .. Header(0x01, 0, 7, 12, checked((uint)DeclaredOversize)), .. Metadata("add", "m1"), .. RandomBytes(random, random.Next(0, 1024))],
        4 => [.. s_preface, .. Header(0x01, 0, 7, checked((uint)DeclaredOversize), 0), .. RandomBytes(random, random.Next(0, 64))],
        5 => GarbageMetadata(random),
        6 => GarbageBody(random),
        _ => BadHeader(random),
    };

    private static byte[] Truncated(Random random)
    {
        var frame = Frame(0x01, 9, Metadata("add", "m2"), RandomBytes(random, 200));
        return [.. s_preface, .. frame.AsSpan(0, random.Next(1, frame.Length))];
    }

    private static byte[] GarbageMetadata(Random random)
    {
        var metadata = RandomBytes(random, random.Next(1, 256));
        return [.. s_preface, .. Frame((byte)random.Next(1, 6), (uint)random.Next(), metadata, RandomBytes(random, random.Next(0, 64)))];
    }

    private static byte[] GarbageBody(Random random) =>
        [.. s_preface, .. Frame(0x01, 11, Metadata(ConformanceRoutes.Add, "m3"), RandomBytes(random, random.Next(0, 512))), .. Frame(0x03, 0, Metadata(ConformanceRoutes.Numbers, "m4"), RandomBytes(random, 16))];

    private static byte[] BadHeader(Random random) => random.Next(4) switch
    {
        0 => [.. s_preface, .. Header((byte)random.Next(0x0A, 256), 0, 1, 0, 0)], // unknown frame type
        1 => [.. s_preface, .. Header(0x01, (byte)(1 << random.Next(4, 8)), 1, 0, 0)], // reserved flag bit
        2 => [.. "IPCW"u8, (byte)random.Next(2, 256), 0, 0, 0], // another wire format version
        _ => [.. s_preface, .. Header(0x07, 0, 1, 5, 0), 1, 2, 3, 4, 5], // a control frame with metadata
    };

    private static byte[] Frame(byte type, uint callId, byte[] metadata, byte[] body) =>
        [.. Header(type, 0, callId, (uint)metadata.Length, (uint)body.Length), .. metadata, .. body];

    private static byte[] Header(byte type, byte flags, uint callId, uint metadataLength, uint bodyLength)
    {
        var header = new byte[16];
        header[0] = type;
        header[1] = flags;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), callId);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), metadataLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), bodyLength);
        return header;
    }

    /// <summary>Route, message id and no headers, each string as a one-byte varint length and UTF-8.</summary>
    private static byte[] Metadata(string route, string messageId) =>
        [(byte)route.Length, .. Encoding.UTF8.GetBytes(route), (byte)messageId.Length, .. Encoding.UTF8.GetBytes(messageId), 0];

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}

/// <summary>The collection of <see cref="MalformedInputTests"/>, run with no other test beside it.</summary>
[CollectionDefinition(nameof(MalformedInputTests), DisableParallelization = true)]
public sealed class MalformedInputCollection
{
}
