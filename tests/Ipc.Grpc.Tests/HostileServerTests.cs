using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Ipc.TestUtils;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Grpc.Tests;

/// <summary>
/// The client against a server that is not Ipc's, or is broken: a raw Kestrel endpoint answers every call with what a test
/// makes it. Each call ends with an <see cref="IpcException"/> of a stable code and a message that says what came back.
/// </summary>
[Trait("Transport", "Grpc")]
public sealed class HostileServerTests
{
    /// <summary>
    /// A status whose rich details (grpc-status-details-bin) are broken: an ErrorInfo that does not parse, details that
    /// are no google.rpc.Status at all. The plain status is read instead: Internal is ProtocolError, its message kept.
    /// </summary>
    [Theory]
    [InlineData("an ErrorInfo that does not parse")]
    [InlineData("details that are no Status")]
    public async Task Request_StatusWithBrokenRichDetails_FailsWithTheCodeOfThePlainStatus(string what)
    {
        var details = what == "details that are no Status"
            ? new byte[] { 0xff, 0xff, 0xff }
            : new Google.Rpc.Status
            {
                Code = 13,
                Message = "rich",
                Details = { new Any { TypeUrl = "type.googleapis.com/" + ErrorInfo.Descriptor.FullName, Value = ByteString.CopyFrom(0xff, 0xff, 0xff) } },
            }.ToByteArray();
        await using var server = await StartAsync(async context =>
        {
            context.Response.ContentType = "application/grpc";
            await context.Response.StartAsync();
            context.Response.AppendTrailer("grpc-status", "13");
            context.Response.AppendTrailer("grpc-message", "broken");
            context.Response.AppendTrailer("grpc-status-details-bin", Convert.ToBase64String(details));
        });
        await using var client = TestIpc.CreateClient(server.Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        var ipc = Assert.IsType<IpcException>(ex, exactMatch: false);
        Assert.True(ipc.ErrorCode == IpcErrorCode.ProtocolError, ex.ToString());
        Assert.Contains("broken", ipc.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Answers that are no gRPC server's: a page with 200, a proxy's bare 503, a status that is not a number, a message
    /// that is no envelope. Each fails with an IpcException whose code says what came back: not Unavailable (which the
    /// client retries, as for a lost connection) for an answer that is simply not an Ipc server's.
    /// </summary>
    [Theory]
    [InlineData("page", IpcErrorCode.ProtocolError, "Invalid content-type value: text/html")]
    [InlineData("proxy 503", IpcErrorCode.Unavailable, "503")]
    [InlineData("status not a number", IpcErrorCode.ProtocolError, "Unexpected grpc-status value: abc")]
    [InlineData("message no envelope", IpcErrorCode.ProtocolError, "InvalidProtocolBufferException")]
    public async Task Request_AnswerNoGrpcServerGives_FailsWithACodeThatSaysWhat(string what, IpcErrorCode expected, string inMessage)
    {
        await using var server = await StartAsync(async context =>
        {
            switch (what)
            {
                case "page":
                    context.Response.ContentType = "text/html";
                    await context.Response.WriteAsync("<html>");
                    break;
                case "proxy 503":
                    context.Response.StatusCode = 503;
                    break;
                case "status not a number":
                    context.Response.ContentType = "application/grpc";
                    await context.Response.StartAsync();
                    context.Response.AppendTrailer("grpc-status", "abc");
                    break;
                default:
                    context.Response.ContentType = "application/grpc";
                    await context.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 3, 0xff, 0xff, 0xff });
                    context.Response.AppendTrailer("grpc-status", "0");
                    break;
            }
        });
        await using var client = TestIpc.CreateClient(server.Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var code) && code == expected, ex.ToString());
        Assert.Contains(inMessage, ex.Message, StringComparison.Ordinal);
        if (expected == IpcErrorCode.ProtocolError)
        {
            Assert.Contains("Check that the address is an Ipc gRPC server's", ex.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A response whose headers are over what the client reads (SocketsHttpHandler's 64 KiB), one header over it on its own
    /// or many that add up, to a request or a stream: MessageTooLarge naming the limit, as on the HTTP transport, not
    /// Unavailable, which the client would retry as a lost connection only to get the same answer.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Call_ResponseHeadersOverTheLimit_FailsWithMessageTooLarge(bool stream, bool manyHeaders)
    {
        await using var server = await StartAsync(context =>
        {
            context.Response.ContentType = "application/grpc";
            for (var i = 0; i < (manyHeaders ? 128 : 1); i++)
            {
                context.Response.Headers["big-" + i] = new string('x', manyHeaders ? 1024 : 128 * 1024);
            }

            context.Response.AppendTrailer("grpc-status", "0");
            return Task.CompletedTask;
        });
        await using var client = TestIpc.CreateClient(server.Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

        var ex = await Assert.ThrowsAnyAsync<Exception>(async () =>
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

        Assert.True(IpcException.TryGetErrorCode(ex, out var code) && code == IpcErrorCode.MessageTooLarge, ex.ToString());
        Assert.Contains("MaxResponseHeadersLength", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A server that sends the head of its answer and then nothing: the call fails with Timeout at its RequestTimeout.</summary>
    [Fact]
    public async Task Request_ServerSendsHeadersThenNothing_FailsWithTimeout()
    {
        await using var server = await StartAsync(async context =>
        {
            context.Response.ContentType = "application/grpc";
            await context.Response.StartAsync();
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        await using var client = TestIpc.CreateClient(server.Address, ipc => ipc.ConfigureResilience(r => r.Enabled = false), e => e.RequestTimeout = TimeSpan.FromMilliseconds(300));

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var code) && code == IpcErrorCode.Timeout, ex.ToString());
    }

    private static async Task<RawServer> StartAsync(RequestDelegate answer)
    {
        var port = TestAddresses.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapPost("/{**path}", answer);
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        return new RawServer(app, $"grpc://127.0.0.1:{port}");
    }

    private sealed record RawServer(WebApplication App, string Address) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
