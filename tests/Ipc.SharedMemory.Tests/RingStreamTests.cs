using System.Net.Sockets;
using Ipc.TestUtils;
using Ipc.Transports.Streams;

namespace Ipc.SharedMemory.Tests;

/// <summary>The rings on their own: two <see cref="RingStream"/>s over one segment, as a server and a client map it.</summary>
[Trait("Transport", "SharedMemory")]
public sealed class RingStreamTests : IAsyncLifetime
{
    private const int RingSize = 64 * 1024;
    private readonly string _folder = Directory.CreateTempSubdirectory("ipc-shm-ring-").FullName;
    private RingStream _server = null!;
    private RingStream _client = null!;

    public async Task InitializeAsync()
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(_folder, "s.sock")));
        listener.Listen();
        var clientSocket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await clientSocket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(_folder, "s.sock")));
        var serverSocket = await listener.AcceptAsync();

        var created = SharedMemorySegment.Create(_folder, "ring", 1, RingSize);
        var opened = SharedMemorySegment.Open(_folder, "ring", created.FileName);
        created.Unlink();
        _server = new RingStream(created, serverSocket, server: true, TimeSpan.FromMicroseconds(20));
        _client = new RingStream(opened, clientSocket, server: false, TimeSpan.FromMicroseconds(20));
    }

    public Task DisposeAsync()
    {
        try
        {
            _client?.Dispose();
            _server?.Dispose();
        }
        finally
        {
            Directory.Delete(_folder, recursive: true); // also when InitializeAsync failed before the streams existed
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task Write_ManyTimesTheRingInOddPieces_ArrivesInOrderAcrossTheWrap()
    {
        var data = new byte[(10 * RingSize) + 12_345];
        new Random(14).NextBytes(data);

        var writer = Task.Run(() =>
        {
            for (var offset = 0; offset < data.Length; offset += 7_777)
            {
                _client.Write(data.AsSpan(offset, Math.Min(7_777, data.Length - offset)));
            }
        });
        var received = new byte[data.Length];
        var reader = Task.Run(() =>
        {
            var total = 0;
            while (total < received.Length)
            {
                total += _server.Read(received.AsSpan(total, Math.Min(5_000, received.Length - total)));
            }
        });

        await Task.WhenAll(writer, reader).WaitAsync(TestIpc.Bound);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task Write_LargerThanTheRing_WaitsForTheReaderThenCompletes()
    {
        var data = new byte[3 * RingSize];
        var writer = Task.Run(() => _client.Write(data));

        // The ring takes one ring's worth; the rest waits until the reader drains it.
        var first = new byte[RingSize];
        Assert.Equal(RingSize, _server.Read(first));
        Assert.False(writer.IsCompleted);
        var rest = new byte[2 * RingSize];
        var read = 0;
        while (read < rest.Length)
        {
            read += _server.Read(rest.AsSpan(read));
        }

        await writer.WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task Dispose_WhileThePeerReads_PeerReadsTheEnd()
    {
        var reader = Task.Run(() => _server.Read(new byte[16]));

        _client.Write([1, 2, 3]);
        Assert.Equal(3, await reader.WaitAsync(TestIpc.Bound));
        var end = Task.Run(() => _server.Read(new byte[16]));
        _client.Dispose();

        Assert.Equal(0, await end.WaitAsync(TestIpc.Bound));
        Assert.Throws<IOException>(() => _server.Write([4]));
    }

    [Fact]
    public void ReadAvailable_TakesWhatCameWithoutWaitingAndLeavesTheEndToRead()
    {
        var buffer = new byte[16];
        Assert.Equal(INonBlockingStream.NothingYet, _server.ReadAvailable(buffer));

        _client.Write([1, 2, 3]);
        Assert.Equal(3, _server.ReadAvailable(buffer));
        Assert.Equal(new byte[] { 1, 2, 3 }, buffer[..3]);
        Assert.Equal(INonBlockingStream.NothingYet, _server.ReadAvailable(buffer));

        _client.Write([4]);
        _client.Dispose();
        Assert.Equal(1, _server.ReadAvailable(buffer)); // what was written before the close still comes
        Assert.Equal(4, buffer[0]);
        Assert.Equal(INonBlockingStream.ReadNow, _server.ReadAvailable(buffer)); // the end: the blocking read reports it
        Assert.Equal(0, _server.Read(buffer));
    }

    [Fact]
    public async Task Dispose_WhileReading_EndsTheReadAtOnce()
    {
        var reader = Task.Run(() => _server.Read(new byte[16]));

        _server.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => reader.WaitAsync(TestIpc.Bound));
    }
}
