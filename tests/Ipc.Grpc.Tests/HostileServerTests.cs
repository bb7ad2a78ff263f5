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
