using System.Buffers;
using System.Net.Sockets;
using Ipc.Testing;
using Ipc.TestUtils;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.SharedMemory.Tests;

/// <summary>Clients that do not follow the handshake or the wire format: the server stays up, and nothing is left in the folder.</summary>
[Trait("Transport", "SharedMemory")]
public sealed class HostilePeerTests
{
    [Fact]
    public async Task AuthenticateAsync_ClientNeverMapsItsSegment_RemovesTheSegmentAtHandshakeTimeout()
    {
        var address = SharedMemoryFiles.NewAddress();
        var name = new Uri(address).Host;
        // Long enough that the test's own steps within it (the existence check after the hello, its client's handshake
        // at the end) do not race it on a machine busy with the other tests.
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSharedMemory(o => o.HandshakeTimeout = TimeSpan.FromSeconds(1)));
        using var socket = await HandshakeSocket.ConnectAsync(name);

        var segment = await HandshakeSocket.ReceiveSegmentNameAsync(socket);
        Assert.True(File.Exists(Path.Combine(SharedMemoryFiles.Directory, segment)));

        // The client never says it mapped the segment: the server gives up after HandshakeTimeout and deletes it.
        Assert.Equal(0, await socket.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(TestIpc.Bound));
        Assert.False(File.Exists(Path.Combine(SharedMemoryFiles.Directory, segment)));
        await using (var client = TestIpc.CreateClient(address))
        {
            await TestIpc.AssertServesAsync(client);
        }

        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task ServeAsync_GarbageInTheRing_ClosesThatConnectionAndServesOthers()
    {
        var address = SharedMemoryFiles.NewAddress();
        var name = new Uri(address).Host;
        using var server = await TestIpc.StartServerAsync(address);
        using var socket = await HandshakeSocket.ConnectAsync(name);
        var segment = SharedMemorySegment.Open(SharedMemoryFiles.Directory, name, await HandshakeSocket.ReceiveSegmentNameAsync(socket));
        await socket.SendAsync(new byte[] { 1 }, SocketFlags.None);
        using var stream = new RingStream(segment, socket, server: false, TimeSpan.Zero);

        var garbage = new byte[4096];
        new Random(14).NextBytes(garbage);
        stream.Write(garbage);

        // The server reads no preface, closes the connection: the client reads whatever it sent, then the end.
        var buffer = new byte[4096];
        var end = Task.Run(() =>
        {
            while (stream.Read(buffer) > 0)
            {
            }
        });
        await end.WaitAsync(TestIpc.Bound);
        await using (var client = TestIpc.CreateClient(address))
        {
            await TestIpc.AssertServesAsync(client);
        }

        await server.StopAsync().WaitAsync(TestIpc.Bound);
        Assert.Empty(SharedMemoryFiles.Of(name));
    }

    [Fact]
    public async Task ServeAsync_TailPastTheRing_ClosesThatConnectionAndServesOthers()
    {
        var address = SharedMemoryFiles.NewAddress();
        var name = new Uri(address).Host;
        using var server = await TestIpc.StartServerAsync(address);
        using var socket = await HandshakeSocket.ConnectAsync(name);
        var segment = SharedMemorySegment.Open(SharedMemoryFiles.Directory, name, await HandshakeSocket.ReceiveSegmentNameAsync(socket));
        await socket.SendAsync(new byte[] { 1 }, SocketFlags.None);
        using var stream = new RingStream(segment, socket, server: false, TimeSpan.Zero);

        CorruptTail(segment); // claims far more bytes than the ring holds

        // The server closes the connection: the client reads what the server sent first (its settings), then the end.
        var end = Task.Run(() =>
        {
            var buffer = new byte[4096];
            while (stream.Read(buffer) > 0)
            {
            }
        });
        await end.WaitAsync(TestIpc.Bound);
        await using (var client = TestIpc.CreateClient(address))
        {
            await TestIpc.AssertServesAsync(client);
        }

        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task ServeAsync_ClientProcessGoneWithoutClosing_ServerClosesItsSide()
    {
        var address = SharedMemoryFiles.NewAddress();
        var name = new Uri(address).Host;
        using var server = await TestIpc.StartServerAsync(address);
        var socket = await HandshakeSocket.ConnectAsync(name);
        using var segment = SharedMemorySegment.Open(SharedMemoryFiles.Directory, name, await HandshakeSocket.ReceiveSegmentNameAsync(socket));
        await socket.SendAsync(new byte[] { 1 }, SocketFlags.None);

        // What the kernel does when a client process dies: its socket closes, and nothing is written to the rings.
        socket.Dispose();

        Assert.True(SpinWait.SpinUntil(() => ServerClosed(segment), TestIpc.Bound), "the server did not close its side of a dead client's connection");
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the handler would run inside the frame loop, at once
    public async Task ServeAsync_ClientGoneInTheMiddleOfALargeRequest_ItsHandlerNeverRuns(bool inlineHandlers)
    {
        var address = SharedMemoryFiles.NewAddress();
        var name = new Uri(address).Host;
        var probe = new ConformanceProbe();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddSharedMemory(o => o.UnsafePreferInlineHandlers = inlineHandlers), probe: probe);
        var socket = await HandshakeSocket.ConnectAsync(name);
        using var segment = SharedMemorySegment.Open(SharedMemoryFiles.Directory, name, await HandshakeSocket.ReceiveSegmentNameAsync(socket));
        await socket.SendAsync(new byte[] { 1 }, SocketFlags.None);
        using var stream = new RingStream(segment, socket, server: false, TimeSpan.Zero);
        var frame = new ArrayBufferWriter<byte>();
        frame.Write(WireFormat.Preface);
        WireFormat.WriteMessage(frame, FrameType.Request, 1, new IpcMessage(ConformanceRoutes.RawHeld, new byte[512 * 1024]));

        // Part of the body, then the process is gone: its socket closes with the frame unfinished in the ring.
        stream.Write(frame.WrittenSpan[..(200 * 1024)]);
        socket.Dispose();

        Assert.True(SpinWait.SpinUntil(() => ServerClosed(segment), TestIpc.Bound), "the server did not close its side of a dead client's connection");
        await using (var client = TestIpc.CreateClient(address))
        {
            await TestIpc.AssertServesAsync(client);
        }

        Assert.False(probe.RawHeldStarted.Task.IsCompleted, "the handler ran with a body its client never finished");
        await server.StopAsync().WaitAsync(TestIpc.Bound);
        Assert.Empty(SharedMemoryFiles.Of(name));
    }

    [Fact]
    public void Open_ServerNamesAnotherFile_IsRefused()
    {
        var name = new Uri(SharedMemoryFiles.NewAddress()).Host;

        var ex = Assert.Throws<InvalidDataException>(() => SharedMemorySegment.Open(SharedMemoryFiles.Directory, name, "../../etc/passwd"));

        Assert.Contains("is not one of shm://" + name, ex.Message, StringComparison.Ordinal);
    }

    private static unsafe bool ServerClosed(SharedMemorySegment segment) => Volatile.Read(ref *segment.ServerToClient.WriterClosed) != 0;

    private static unsafe void CorruptTail(SharedMemorySegment segment)
    {
        var ring = segment.ClientToServer;
        Volatile.Write(ref *ring.Tail, 1L << 40);
        Ring.Signal(ring.DataSequence);
    }
}
