using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Ipc.TestUtils;
using Ipc.Transports.Streams;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Sockets.Tests;

/// <summary>
/// A real client against a Unix socket server written by hand that breaks docs/wire-format.md: each call ends with an
/// <see cref="IpcException"/> of a stable code that says what the server did, and the client goes on with a new connection.
/// </summary>
[Trait("Transport", "UnixSocket")]
public sealed class HostileServerTests
{
    /// <summary>A MessagePack string "ok", the answer of the calls that go well.</summary>
    private static readonly byte[] s_ok = [0xa2, (byte)'o', (byte)'k'];

    /// <summary>
    /// A frame that belongs to another kind of call than the one its id names: the call ends with ProtocolError (not a
    /// non-Ipc exception, an answer made of a stream item, or a stream that never ends), and the next call works.
    /// </summary>
    [Theory]
    [InlineData("request", "StreamItem", false)]
    [InlineData("request", "StreamEnd", false)]
    [InlineData("stream", "Response", false)]
    [InlineData("request", "StreamItem", true)] // one over MaxMessageSize, refused before its body is discarded
    [InlineData("stream", "Response", true)]
    public async Task Call_AnsweredWithAFrameOfAnotherKindOfCall_FailsWithProtocolError(string call, string frameType, bool oversize)
    {
        var answer = Enum.Parse<FrameType>(frameType);
        await using var server = RawServer.Start();
        await using var client = Client(server.Address);
        var serving = server.ServeAsync(async (connection, frame) =>
        {
            if (connection.Index == 0)
            {
                await connection.SendAsync(writer =>
                {
                    if (answer == FrameType.StreamEnd)
                    {
                        WireFormat.WriteControl(writer, answer, frame.CallId);
                    }
                    else if (oversize)
                    {
                        var frameWriter = new ArrayBufferWriter<byte>();
                        WireFormat.WriteMessage(frameWriter, answer, frame.CallId, new IpcMessage("x", ReadOnlyMemory<byte>.Empty));
                        var bytes = frameWriter.WrittenSpan.ToArray();
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), 1 << 30); // declared, never sent
                        writer.Write(bytes);
                    }
                    else
                    {
                        WireFormat.WriteMessage(writer, answer, frame.CallId, new IpcMessage("x", s_ok));
                    }
                });
            }
            else
            {
                await connection.AnswerAsync(frame);
            }
        });

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => call == "request"
            ? client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound)
            : ReadAllAsync(client.Requests().StreamAsync<string, string>("x", "x")).WaitAsync(TestIpc.Bound));

        var ipc = Assert.IsType<IpcException>(ex, exactMatch: false);
        Assert.True(ipc.ErrorCode == IpcErrorCode.ProtocolError, ex.ToString());
        Assert.Contains($"a {answer} frame", ipc.Message, StringComparison.Ordinal);
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
        await server.StopAsync(serving);
    }

    /// <summary>
    /// A server that stops in the middle of a response: the client closes the connection after its FrameTimeout, as a
    /// server does, so the call fails with Unavailable naming it and the next call goes on a new connection instead of
    /// waiting behind the stalled frame.
    /// </summary>
    [Fact]
    public async Task Request_ServerStallsInsideAResponse_ClosedAfterFrameTimeoutAndTheNextCallWorks()
    {
        await using var server = RawServer.Start();
        await using var client = Client(server.Address, o => o.FrameTimeout = TimeSpan.FromMilliseconds(200));
        var serving = server.ServeAsync(async (connection, frame) =>
        {
            if (connection.Index == 0)
            {
                var writer = new ArrayBufferWriter<byte>();
                WireFormat.WriteMessage(writer, FrameType.Response, frame.CallId, new IpcMessage("x", s_ok));
                await connection.Socket.SendAsync(writer.WrittenMemory[..^1]); // all but the last byte, then nothing
            }
            else
            {
                await connection.AnswerAsync(frame);
            }
        });

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.Unavailable, ex.ToString());
        Assert.Contains("FrameTimeout", ex.Message, StringComparison.Ordinal);
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
        await server.StopAsync(serving);
    }

    /// <summary>
    /// A response whose header declares a body of 1 GiB, over the client's MaxMessageSize: the call fails with
    /// MessageTooLarge as soon as the header and metadata are read, while not one byte of the body has been sent, so
    /// the client buffered none of it.
    /// </summary>
    [Fact]
    public async Task Request_ResponseDeclaresABodyOverMaxMessageSize_FailsWithMessageTooLargeBeforeTheBody()
    {
        await using var server = RawServer.Start();
        await using var client = Client(server.Address);
        var serving = server.ServeAsync(async (connection, frame) =>
        {
            var writer = new ArrayBufferWriter<byte>();
            WireFormat.WriteMessage(writer, FrameType.Response, frame.CallId, new IpcMessage("x", ReadOnlyMemory<byte>.Empty));
            var bytes = writer.WrittenSpan.ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), 1 << 30);
            await connection.Socket.SendAsync(bytes);
        });

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.MessageTooLarge, ex.ToString());
        Assert.Contains("1073741824 bytes, over the 65536-byte MaxMessageSize", ex.Message, StringComparison.Ordinal);
        await server.StopAsync(serving);
    }

    /// <summary>
    /// Frames no server may send, each answering a request: the call fails with ProtocolError saying what was wrong, the
    /// client closes that connection, and its next call is answered on a new one. A Response to a call id never sent,
    /// ahead of the real one, is ignored.
    /// </summary>
    [Theory]
    [InlineData("unknown type", "unknown frame type 0x7f")]
    [InlineData("client frame", "only a client sends")]
    [InlineData("control frame over MaxHeaderSize", "over the 65536-byte MaxHeaderSize")]
    [InlineData("truncated GoAway", "the fault of a GoAway frame is malformed: the fault message declares 127 bytes but only 0 remain")]
    [InlineData("second Settings", "Settings twice")]
    public async Task Request_ServerSendsAFrameNoServerMay_FailsWithProtocolErrorAndTheNextCallWorks(string what, string expected)
    {
        await using var server = RawServer.Start();
        await using var client = Client(server.Address);
        var serving = server.ServeAsync((connection, frame) => connection.Index > 0 ? connection.AnswerAsync(frame) : connection.SendAsync(writer =>
        {
            WireFormat.WriteMessage(writer, FrameType.Response, frame.CallId + 1000, new IpcMessage("x", s_ok)); // no such call: ignored
            switch (what)
            {
                case "unknown type":
                    WireFormat.WriteControl(writer, (FrameType)0x7F, frame.CallId);
                    break;
                case "client frame":
                    WireFormat.WriteMessage(writer, FrameType.Request, frame.CallId, new IpcMessage("x", s_ok));
                    break;
                case "control frame over MaxHeaderSize":
                    var header = new byte[WireFormat.HeaderSize];
                    WireFormat.WriteHeader(header, new FrameHeader(FrameType.GoAway, FrameFlags.None, frame.CallId, 0, int.MaxValue));
                    writer.Write(header);
                    break;
                case "truncated GoAway":
                    WireFormat.WriteControl(writer, FrameType.GoAway, frame.CallId, new byte[] { 0x01, 0x7F });
                    break;
                default:
                    WireFormat.WriteSettings(writer, 10, 10);
                    break;
            }
        }));

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.ProtocolError, ex.ToString());
        Assert.Contains("The server broke the wire format", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
        await server.StopAsync(serving);
    }

    /// <summary>
    /// A server that resets the connection (it closes with bytes it never read) in the middle of a response frame: the
    /// calls on the connection fail as a lost connection (Unavailable), not as a broken wire format, and the next call is
    /// answered on a new connection.
    /// </summary>
    [Fact]
    public async Task Request_ServerResetsInTheMiddleOfAResponse_FailsWithUnavailable()
    {
        await using var server = RawServer.Start();
        await using var client = Client(server.Address);
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var serving = server.ServeAsync(async (connection, frame) =>
        {
            if (connection.Index > 0)
            {
                await connection.AnswerAsync(frame);
                return;
            }

            var response = new ArrayBufferWriter<byte>();
            WireFormat.WriteMessage(response, FrameType.Response, frame.CallId, new IpcMessage("x", s_ok));
            await connection.Socket.SendAsync(response.WrittenMemory[..(response.WrittenCount - 1)]); // all but its last byte
            first.SetResult();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (connection.Socket.Available == 0)
            {
                Assert.True(watch.Elapsed < TestIpc.Bound, "the second request did not arrive");
                await Task.Delay(5);
            }

            connection.Socket.Close(); // the second request unread: the client's reads end with a reset
        });

        var one = client.Requests().RequestAsync<string, string>("x", "x").AsTask();
        await first.Task.WaitAsync(TestIpc.Bound);
        var two = client.Requests().RequestAsync<string, string>("x", "x").AsTask();

        foreach (var call in new[] { one, two })
        {
            var ex = await Assert.ThrowsAnyAsync<IpcException>(() => call.WaitAsync(TestIpc.Bound));
            Assert.True(ex.ErrorCode == IpcErrorCode.Unavailable, ex.ToString());
        }

        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
        await server.StopAsync(serving);
    }

    /// <summary>
    /// A fault or GoAway whose error code no IpcErrorCode has (a newer server's, or garbage) reaches the caller as
    /// Unknown, with a message that keeps the number: never as a code outside the enum that no caller can switch on.
    /// </summary>
    [Theory]
    [InlineData("Response")]
    [InlineData("GoAway")]
    public async Task Request_FaultWithAnErrorCodeNoIpcErrorCodeHas_FailsWithUnknown(string frame)
    {
        var frameType = Enum.Parse<FrameType>(frame);
        await using var server = RawServer.Start();
        await using var client = Client(server.Address);
        var serving = server.ServeAsync((connection, frame) => connection.SendAsync(writer =>
        {
            var fault = new IpcFault((IpcErrorCode)200, "from the future");
            if (frameType == FrameType.GoAway)
            {
                WireFormat.WriteControl(writer, FrameType.GoAway, frame.CallId, WireFormat.EncodeFault(fault));
            }
            else
            {
                WireFormat.WriteMessage(writer, FrameType.Response, frame.CallId, new IpcMessage("x", ReadOnlyMemory<byte>.Empty) { Fault = fault });
            }
        }));

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.Unknown, ex.ToString());
        Assert.Contains("from the future", ex.Message, StringComparison.Ordinal);
        Assert.Contains("200", ex.Message, StringComparison.Ordinal);
        await server.StopAsync(serving);
    }

    private static ServiceProvider Client(string address, Action<SocketTransportOptions>? options = null, int maxMessageSize = 64 * 1024) =>
        TestIpc.CreateClient(
            address,
            ipc =>
            {
                ipc.ConfigureResilience(r => r.Enabled = false);
                ipc.Services.Configure<SocketTransportOptions>(TestIpc.Endpoint, o => options?.Invoke(o));
            },
            e => e.MaxMessageSize = maxMessageSize);

    private static async Task ReadAllAsync<T>(IAsyncEnumerable<T> items)
    {
        await foreach (var item in items)
        {
            _ = item;
        }
    }

    /// <summary>A frame as the raw server read it.</summary>
    internal readonly record struct Frame(FrameType Type, uint CallId, byte[] Body);

    /// <summary>One accepted connection of the raw server: its preface and Settings are sent, then frames go either way.</summary>
    internal sealed class RawConnection(Socket socket, int index)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        /// <summary>Gets which connection this is: 0 for the first the server accepted.</summary>
        public int Index => index;

        public Socket Socket => socket;

        public async Task OpenAsync(CancellationToken cancellationToken)
        {
            await FillAsync(WireFormat.PrefaceSize, cancellationToken);
            _start += WireFormat.PrefaceSize;
            await SendAsync(writer =>
            {
                writer.Write(WireFormat.Preface);
                WireFormat.WriteSettings(writer, maxConcurrentCalls: 10, oneWayWindow: 10);
            });
        }

        public async Task SendAsync(Action<ArrayBufferWriter<byte>> write)
        {
            var writer = new ArrayBufferWriter<byte>();
            write(writer);
            await socket.SendAsync(writer.WrittenMemory);
        }

        /// <summary>Answers a Request with "ok", or a StreamRequest with one "ok" item and its end.</summary>
        public Task AnswerAsync(Frame frame) => SendAsync(writer =>
        {
            if (frame.Type == FrameType.StreamRequest)
            {
                WireFormat.WriteMessage(writer, FrameType.StreamItem, frame.CallId, new IpcMessage("x", s_ok));
                WireFormat.WriteControl(writer, FrameType.StreamEnd, frame.CallId);
            }
            else
            {
                WireFormat.WriteMessage(writer, FrameType.Response, frame.CallId, new IpcMessage("x", s_ok));
            }
        });

        /// <summary>Reads the next frame; <see langword="null"/> once the client closed the connection.</summary>
        public async Task<Frame?> ReadFrameAsync(CancellationToken cancellationToken)
        {
            if (!await FillAsync(WireFormat.HeaderSize, cancellationToken))
            {
                return null;
            }

            var header = _buffer.AsSpan(_start, WireFormat.HeaderSize);
            var type = (FrameType)header[0];
            var callId = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            var metadata = (int)BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
            var length = WireFormat.HeaderSize + metadata + (int)BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
            if (!await FillAsync(length, cancellationToken))
            {
                return null;
            }

            var body = _buffer.AsSpan(_start + WireFormat.HeaderSize + metadata, length - WireFormat.HeaderSize - metadata).ToArray();
            _start += length;
            return new Frame(type, callId, body);
        }

        /// <summary>Waits until the client closes the connection, reading (and dropping) what it sends meanwhile.</summary>
        public async Task WaitClosedAsync(CancellationToken cancellationToken)
        {
            try
            {
                while (await socket.ReceiveAsync(_buffer, cancellationToken) > 0)
                {
                }
            }
            catch (SocketException)
            {
            }
        }

        private async Task<bool> FillAsync(int count, CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            while (_end < count)
            {
                int read;
                try
                {
                    read = await socket.ReceiveAsync(_buffer.AsMemory(_end), cancellationToken);
                }
                catch (SocketException)
                {
                    return false;
                }

                if (read == 0)
                {
                    return false;
                }

                _end += read;
            }

            return true;
        }
    }

    /// <summary>A Unix socket server that speaks the wire format by hand, as each test makes it.</summary>
    internal sealed class RawServer : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly string _path;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _accepted = [];

        private RawServer(string address)
        {
            Address = address;
            _path = UnixSocketTransport.PathOf(new Uri(address));
            _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            _listener.Bind(new UnixDomainSocketEndPoint(_path));
            _listener.Listen(16);
        }

        public string Address { get; }

        public static RawServer Start() => new(TestAddresses.NewUnixAddress());

        /// <summary>Accepts connections and runs <paramref name="onFrame"/> for each call (Request or StreamRequest) a client sends, until stopped.</summary>
        public Task ServeAsync(Func<RawConnection, Frame, Task> onFrame) => Task.Run(async () =>
        {
            var connections = new List<Task>();
            try
            {
                for (var index = 0; ; index++)
                {
                    var socket = await _listener.AcceptAsync(_stop.Token);
                    lock (_accepted)
                    {
                        _accepted.Add(socket);
                    }

                    var connection = new RawConnection(socket, index);
                    connections.Add(Task.Run(async () =>
                    {
                        await connection.OpenAsync(_stop.Token);
                        while (await connection.ReadFrameAsync(_stop.Token) is { } frame)
                        {
                            if (frame.Type is FrameType.Request or FrameType.StreamRequest)
                            {
                                await onFrame(connection, frame);
                            }
                        }
                    }));
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }

            foreach (var connection in connections)
            {
                try
                {
                    await connection;
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                }
            }
        });

        /// <summary>Stops serving and waits for <paramref name="serving"/>, whose failures (a test's assertions) it raises.</summary>
        public async Task StopAsync(Task serving)
        {
            await _stop.CancelAsync();
            await serving.WaitAsync(TestIpc.Bound);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            lock (_accepted)
            {
                foreach (var socket in _accepted)
                {
                    socket.Dispose();
                }
            }

            File.Delete(_path);
            _stop.Dispose();
        }
    }
}
