using System.Net;
using System.Net.Sockets;
using System.Text;
using Ipc.TestUtils;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Http.Tests;

/// <summary>
/// The client against an HTTP/1.1 server written by hand on a socket, which answers each call as a test makes it: too
/// much, too slowly, or not what an Ipc server sends. Each call ends with an <see cref="IpcException"/> of a stable code,
/// within bounded memory and time, and the next call, answered well, works.
/// </summary>
public sealed class HostileServerTests
{
    private const int MaxMessageSize = 64 * 1024;

    /// <summary>An answer "ok" (a MessagePack string), as an Ipc server sends it.</summary>
    private static readonly byte[] s_ok = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 3\r\n\r\n").Concat(new byte[] { 0xa2, (byte)'o', (byte)'k' }).ToArray();

    /// <summary>
    /// A body over the client's MaxMessageSize, declared by Content-Length (and never sent) or chunked without end: the
    /// call fails with MessageTooLarge, the client reading no more than about MaxMessageSize of it.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Request_BodyOverMaxMessageSize_FailsWithMessageTooLarge(bool declared)
    {
        await using var server = RawHttpServer.Start(async (index, stream, cancellationToken) =>
        {
            if (index > 0)
            {
                await stream.WriteAsync(s_ok, cancellationToken);
                return;
            }

            if (declared)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 1073741824\r\n\r\n"), cancellationToken);
                await stream.FlushAsync(cancellationToken);
                await Task.Delay(Timeout.Infinite, cancellationToken); // nothing of the body: the header alone must do
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nTransfer-Encoding: chunked\r\n\r\n"), cancellationToken);
            var chunk = Encoding.ASCII.GetBytes("4000\r\n").Concat(new byte[0x4000]).Concat("\r\n"u8.ToArray()).ToArray();
            while (true)
            {
                await stream.WriteAsync(chunk, cancellationToken); // without end, until the client stops reading
            }
        });
        await using var client = Client(server.Address);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.MessageTooLarge, ex.ToString());
        Assert.Contains($"{MaxMessageSize} bytes, MaxMessageSize of endpoint", ex.Message, StringComparison.Ordinal);
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
    }

    /// <summary>
    /// A server that sends the head of its answer and then its body one byte at a time, never done within the call's
    /// RequestTimeout: the call fails with Timeout at that time, and the next call, on a new connection, works.
    /// </summary>
    [Fact]
    public async Task Request_BodyDrippedSlowerThanTheTimeout_FailsWithTimeoutAndTheNextCallWorks()
    {
        await using var server = RawHttpServer.Start(async (index, stream, cancellationToken) =>
        {
            if (index > 0)
            {
                await stream.WriteAsync(s_ok, cancellationToken);
                return;
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 1000\r\n\r\n"), cancellationToken);
            while (true)
            {
                await stream.WriteAsync(new byte[] { 0xa2 }, cancellationToken);
                await stream.FlushAsync(cancellationToken);
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken); // the server's pace, not the test's wait
            }
        });
        await using var client = Client(server.Address, e => e.RequestTimeout = TimeSpan.FromMilliseconds(300));

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var code) && code == IpcErrorCode.Timeout, ex.ToString());
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
    }

    /// <summary>
    /// Answers no Ipc server gives, each with the code that says what is wrong; the next call works.
    /// </summary>
    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 1\r\n\r\n\u00c1", IpcErrorCode.Serialization, "")] // a body that does not deserialize
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>", IpcErrorCode.Serialization, "")] // a proxy's page
    [InlineData("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"error\":[1]", IpcErrorCode.Unknown, "500")] // an error body that is not one
    [InlineData("HTTP/1.1 500 Internal Server Error\r\nIpc-Error-Code: NoHandler\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{\"err", IpcErrorCode.NoHandler, "500")] // a malformed error body
    [InlineData("HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n", IpcErrorCode.Unknown, "599 Odd")] // a status outside the mapping
    [InlineData("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n", IpcErrorCode.ProtocolError, "418")]
    public async Task Request_AnswerNoIpcServerGives_FailsWithACodeThatSaysWhat(string answer, IpcErrorCode expected, string inMessage)
    {
        var bytes = answer.Select(c => (byte)c).ToArray();
        await using var server = RawHttpServer.Start((index, stream, cancellationToken) => stream.WriteAsync(index > 0 ? s_ok : bytes, cancellationToken).AsTask());
        await using var client = Client(server.Address);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == expected, ex.ToString());
        Assert.Contains(inMessage, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A response that is not HTTP (a status line of another protocol, a chunk size that is no number, a header line
    /// without a colon): ProtocolError saying the response was malformed, not Unavailable, which the client would retry
    /// as a lost connection only to get the same answer; the next call works.
    /// </summary>
    [Theory]
    [InlineData("SSH-2.0-OpenSSH_9.6\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n")]
    public async Task Request_MalformedHttpResponse_FailsWithProtocolError(string answer)
    {
        var bytes = Encoding.ASCII.GetBytes(answer);
        await using var server = RawHttpServer.Start((index, stream, cancellationToken) => stream.WriteAsync(index > 0 ? s_ok : bytes, cancellationToken).AsTask());
        await using var client = Client(server.Address);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.ProtocolError, ex.ToString());
        Assert.Contains("malformed", ex.Message, StringComparison.Ordinal);
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
    }

    /// <summary>
    /// A response whose headers are over what the client reads (SocketsHttpHandler's 64 KiB): MessageTooLarge, as for
    /// metadata over the limit on the other transports, not a lost connection; the next call works.
    /// </summary>
    [Fact]
    public async Task Request_ResponseHeadersOverTheLimit_FailsWithMessageTooLarge()
    {
        var bytes = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nIpc-Header-Big: " + new string('x', 128 * 1024) + "\r\n\r\n");
        await using var server = RawHttpServer.Start((index, stream, cancellationToken) => stream.WriteAsync(index > 0 ? s_ok : bytes, cancellationToken).AsTask());
        await using var client = Client(server.Address);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(ex.ErrorCode == IpcErrorCode.MessageTooLarge, ex.ToString());
        Assert.Equal("ok", await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));
    }

    /// <summary>
    /// The same over HTTP/2, where HttpClient reports the limit in two ways: headers that add up to more than it, and one
    /// header over it on its own (an error of its HPACK decoder). MessageTooLarge both ways, for a request and a stream.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Http2_ResponseHeadersOverTheLimit_FailsWithMessageTooLarge(bool stream, bool manyHeaders)
    {
        var port = TestAddresses.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port, l => l.Protocols = HttpProtocols.Http2));
        await using var app = builder.Build();
        app.MapPost("/{**path}", context =>
        {
            for (var i = 0; i < (manyHeaders ? 128 : 1); i++)
            {
                context.Response.Headers["Ipc-Header-Big" + i] = new string('x', manyHeaders ? 1024 : 128 * 1024);
            }

            return Task.CompletedTask;
        });
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        await using var client = TestIpc.CreateClient($"http://127.0.0.1:{port}/hostile", ipc => ipc.AddHttp(o => o.Protocol = HttpIpcProtocol.Http2).ConfigureResilience(r => r.Enabled = false));

        var ex = await Assert.ThrowsAnyAsync<IpcException>(async () =>
        {
            if (!stream)
            {
                await client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound);
                return;
            }

            await foreach (var item in client.Requests().StreamAsync<string, string>("x", "x").WithCancellation(new CancellationTokenSource(TestIpc.Bound).Token))
            {
                _ = item;
            }
        });

        Assert.True(ex.ErrorCode == IpcErrorCode.MessageTooLarge, ex.ToString());
        await app.StopAsync().WaitAsync(TestIpc.Bound);
    }

    /// <summary>
    /// Ipc headers whose encoded values are malformed (not base64, not UTF-8, an encoded word cut short) are left out of
    /// the answer; the answer itself and its well-formed headers are read.
    /// </summary>
    [Fact]
    public async Task Request_MalformedEncodedHeaderValues_AreLeftOutAndTheAnswerRead()
    {
        var answer = Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-msgpack\r\nContent-Length: 3\r\n"
            + "Ipc-Header-NotBase64: =?utf-8?b?!!!!?=\r\nIpc-Header-NotUtf8: =?utf-8?b?/w==?=\r\nIpc-Header-Cut: =?utf-8?b?aGk=\r\nIpc-Header-Good: =?utf-8?b?aGk=?=\r\n\r\n")
            .Concat(new byte[] { 0xa2, (byte)'o', (byte)'k' }).ToArray();
        await using var server = RawHttpServer.Start((index, stream, cancellationToken) => stream.WriteAsync(answer, cancellationToken).AsTask());
        await using var client = Client(server.Address);
        var transport = client.GetServices<Ipc.Transports.IIpcTransport>().Single(t => t.Name == "Http");
        await using var raw = transport.CreateClient(new Ipc.Transports.IpcTransportContext(TestIpc.Endpoint, new Uri(server.Address), client));

        var response = await raw.RequestAsync(new IpcMessage("x", new byte[] { 0xa1, 0x78 }), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound);

        Assert.Null(response.Fault);
        Assert.Equal(new byte[] { 0xa2, (byte)'o', (byte)'k' }, response.Body.ToArray());
        Assert.Equal("hi", Assert.Single(response.Headers).Value);
    }

    /// <summary>
    /// A stream call answered with what is no stream (a proxy's page, with 200): ProtocolError naming the content type
    /// that came and the ones a stream has, rather than reading the page as frames of nonsense kinds and lengths.
    /// </summary>
    [Fact]
    public async Task Stream_AnsweredWithAPage_FailsWithProtocolErrorNamingTheContentType()
    {
        var page = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n<!DOCTYPE html>");
        await using var server = RawHttpServer.Start((index, stream, cancellationToken) => stream.WriteAsync(page, cancellationToken).AsTask());
        await using var client = Client(server.Address);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(async () =>
        {
            await foreach (var item in client.Requests().StreamAsync<string, string>("x", "x").WithCancellation(new CancellationTokenSource(TestIpc.Bound).Token))
            {
                _ = item;
            }
        });

        Assert.True(ex.ErrorCode == IpcErrorCode.ProtocolError, ex.ToString());
        Assert.Contains("text/html", ex.Message, StringComparison.Ordinal);
        Assert.Contains("application/vnd.ipc.frames", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A stream item over the client's MaxMessageSize: MessageTooLarge naming the endpoint, before the item's bytes arrive.</summary>
    [Fact]
    public async Task Stream_ItemOverMaxMessageSize_FailsWithMessageTooLargeNamingTheEndpoint()
    {
        await using var server = RawHttpServer.Start(async (index, stream, cancellationToken) =>
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.ipc.frames\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"), cancellationToken);
            await stream.WriteAsync(new byte[] { 0, 0x40, 0, 0, 0 }, cancellationToken); // an item of 1 GiB
            await stream.WriteAsync("\r\n"u8.ToArray(), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        });
        await using var client = Client(server.Address);

        var ex = await Assert.ThrowsAnyAsync<IpcException>(async () =>
        {
            await foreach (var item in client.Requests().StreamAsync<string, string>("x", "x").WithCancellation(new CancellationTokenSource(TestIpc.Bound).Token))
            {
                _ = item;
            }
        });

        Assert.True(ex.ErrorCode == IpcErrorCode.MessageTooLarge, ex.ToString());
        Assert.Contains($"{MaxMessageSize} bytes, MaxMessageSize of endpoint '{TestIpc.Endpoint}'", ex.Message, StringComparison.Ordinal);
    }

    private static ServiceProvider Client(string address, Action<IpcEndpointOptions>? endpoint = null) =>
        TestIpc.CreateClient(
            address,
            ipc => ipc.ConfigureResilience(r => r.Enabled = false),
            e =>
            {
                e.MaxMessageSize = MaxMessageSize;
                endpoint?.Invoke(e);
            });

    /// <summary>
    /// An HTTP/1.1 server on a socket: reads each request's head and its Content-Length body, then lets a test write the
    /// response of the connection's call (the index counts connections from 0); the connection is kept for the next
    /// request once the test returns.
    /// </summary>
    internal sealed class RawHttpServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;

        private RawHttpServer(Func<int, NetworkStream, CancellationToken, Task> answer)
        {
            _listener.Start();
            Address = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hostile";
            _serving = ServeAsync(answer);
        }

        public string Address { get; }

        public static RawHttpServer Start(Func<int, NetworkStream, CancellationToken, Task> answer) => new(answer);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _serving.WaitAsync(TestIpc.Bound);
            _stop.Dispose();
        }

        private async Task ServeAsync(Func<int, NetworkStream, CancellationToken, Task> answer)
        {
            var connections = new List<Task>();
            try
            {
                for (var index = 0; ; index++)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    var connection = index;
                    connections.Add(Task.Run(async () =>
                    {
                        using var stream = new NetworkStream(socket, ownsSocket: true);
                        while (await ReadRequestAsync(stream, _stop.Token))
                        {
                            await answer(connection, stream, _stop.Token);
                            await stream.FlushAsync(_stop.Token);
                        }
                    }));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }

            foreach (var connection in connections)
            {
                try
                {
                    await connection;
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
                {
                    // the client closed the connection, or the test ended
                }
            }
        }

        /// <summary>Reads a request's head and body; <see langword="false"/> once the client closed the connection.</summary>
        private static async Task<bool> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
        {
            var head = new List<byte>();
            var one = new byte[1];
            while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
            {
                if (await stream.ReadAsync(one, cancellationToken) == 0)
                {
                    return false;
                }

                head.Add(one[0]);
            }

            var text = Encoding.ASCII.GetString(head.ToArray());
            var line = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
            var length = line is null ? 0 : int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            await stream.ReadExactlyAsync(new byte[length], cancellationToken);
            return true;
        }
    }
}
