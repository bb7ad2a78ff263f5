using System.Net.Sockets;
using Ipc.TestUtils;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

/// <summary>The dedicated reader's read without waiting, on a real Unix domain socket pair.</summary>
public sealed class UnixReceiveTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"ipc-recv-{Guid.NewGuid():N}.sock");
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Socket _client = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Socket _server;

    public UnixReceiveTests()
    {
        _listener.Bind(new UnixDomainSocketEndPoint(_path));
        _listener.Listen();
        _client.Connect(new UnixDomainSocketEndPoint(_path));
        _server = _listener.Accept();
    }

    [Fact]
    public void Read_NothingSent_ReturnsNothingYetWithoutWaiting()
    {
        using var stream = new NetworkStream(_server, ownsSocket: false);
        var read = UnixReceive.For(stream)!;

        Assert.Equal(ReadablePoll.NothingYet, read(new byte[16]));
    }

    [Fact]
    public void Read_BytesSent_ReadsThem()
    {
        using var stream = new NetworkStream(_server, ownsSocket: false);
        var read = UnixReceive.For(stream)!;
        _client.Send([1, 2, 3]);
        var buffer = new byte[16];

        var count = SpinUntilSomething(read, buffer);

        Assert.Equal([1, 2, 3], buffer[..count]);
    }

    [Fact]
    public void Read_PeerClosed_ReturnsTheEndOfTheStream()
    {
        using var stream = new NetworkStream(_server, ownsSocket: false);
        var read = UnixReceive.For(stream)!;
        _client.Shutdown(SocketShutdown.Send);

        Assert.Equal(0, SpinUntilSomething(read, new byte[16]));
    }

    [Fact]
    public void Read_StreamDisposed_LeavesItToTheBlockingRead()
    {
        var stream = new NetworkStream(_server, ownsSocket: true);
        var read = UnixReceive.For(stream)!;
        stream.Dispose();

        Assert.Equal(ReadablePoll.ReadNow, read(new byte[16]));
    }

    [Fact]
    public void Read_NoRoom_LeavesItToTheBlockingReadRatherThanReportTheEnd()
    {
        using var stream = new NetworkStream(_server, ownsSocket: false);
        var read = UnixReceive.For(stream)!;

        Assert.Equal(ReadablePoll.ReadNow, read(Span<byte>.Empty));
    }

    [Fact]
    public void For_StreamNotOfTheOperatingSystem_ReturnsNull() => Assert.Null(UnixReceive.For(new MemoryStream()));

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
        _listener.Dispose();
        File.Delete(_path);
    }

    /// <summary>Bytes sent on a local socket are there at once, but give the kernel a bounded while anyway.</summary>
    private static int SpinUntilSomething(ReadAvailable read, byte[] buffer)
    {
        var deadline = DateTime.UtcNow + TestIpc.Bound;
        while (true)
        {
            var count = read(buffer);
            if (count != ReadablePoll.NothingYet || DateTime.UtcNow > deadline)
            {
                return count;
            }

            Thread.Yield();
        }
    }
}
