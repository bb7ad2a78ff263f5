using Grpc.Core;
using Grpc.Net.Client;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Grpc.Tests;

[Trait("Transport", "Grpc")]
public sealed class GrpcTransportTests
{
    private static string NewAddress() => $"grpc://127.0.0.1:{TestAddresses.FreePort()}";

    [Fact]
    public async Task Connect_PastMaxConnections_ClosedAtOnceAndTheCallFailsUnavailable()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddGrpc(o => o.MaxConnections = 1));
        var uri = new Uri(address);

        // The one connection the server serves: an HTTP/2 handshake, answered by the server's SETTINGS.
        var held = new System.Net.Sockets.TcpClient();
        await held.ConnectAsync(uri.Host, uri.Port);
        await Http2Frames.HandshakeAsync(held.GetStream()).WaitAsync(TestIpc.Bound);

        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>(Ipc.Testing.ConformanceRoutes.Fail, "x").AsTask().WaitAsync(TestIpc.Bound));
        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);

        // Once the held connection closes, the server takes the next one.
        held.Dispose();
        using var bound = new CancellationTokenSource(TestIpc.Bound);
        while (true)
        {
            try
            {
                await TestIpc.AssertServesAsync(client);
                break;
            }
            catch (IpcException again) when (again.ErrorCode == IpcErrorCode.Unavailable && !bound.IsCancellationRequested)
            {
                await Task.Delay(10, bound.Token); // the server has not yet seen the held connection close
            }
        }

        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task StartAsync_AddressWithPassword_FailsValidationWithoutShowingIt() =>
        await TestIpc.AssertRefusesCredentialsAsync(NewAddress(), "a grpc:// address has no user name or password");

    [Fact]
    public async Task StartAsync_AddressWithQuery_FailsValidationWithoutShowingItsSecret() =>
        await AssertRefusesQuerySecretAsync(NewAddress(), "a grpc:// address has only a host and a port, no path, query or fragment");

    /// <summary>A server and a client of an address whose query holds a secret both fail validation, saying why, without showing the secret.</summary>
    private static async Task AssertRefusesQuerySecretAsync(string address, string expected)
    {
        const string Secret = "s3cret-key";
        var withSecret = address + "?region=eu&api_key=" + Secret;

        var server = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => TestIpc.StartServerAsync(withSecret));
        await using var services = TestIpc.CreateClient(withSecret);
        var client = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => services.Requests());

        foreach (var message in new[] { server.Message, client.Message })
        {
            Assert.Contains($"'{address}?region=***&api_key=***' is not valid for the ", message, StringComparison.Ordinal);
            Assert.Contains(expected, message, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task RequestAsync_ServerInAnotherProcess_Serves()
    {
        await TestIpc.AssertServedFromAnotherProcessAsync(NewAddress());
    }

    [Fact]
    public async Task RequestAsync_NoServer_FailsAtOnceWithUnavailableNotAccepted()
    {
        await TestIpc.AssertNoServerFailsAtOnceAsync(NewAddress());
    }

    [Theory]
    [InlineData("grpc://127.0.0.1", "give the port")]
    [InlineData("grpc://127.0.0.1:5081/calc", "no path")]
    public void ValidateAddress_Incomplete_SaysWhatIsMissing(string address, string expected)
    {
        Assert.Contains(expected, new GrpcTransport().ValidateAddress(new Uri(address)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_HttpClientFactoryLogging_OffUnlessTheAppAddsItBack()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address);
        var quiet = new CategoryLog();
        var loud = new CategoryLog();

        await using (var client = TestIpc.CreateClient(address, ipc => ipc.Services.AddLogging(logging => logging.AddProvider(quiet))))
        {
            await TestIpc.AssertServesAsync(client);
        }

        await using (var client = TestIpc.CreateClient(address, ipc =>
        {
            ipc.Services.AddLogging(logging => logging.AddProvider(loud));
            ipc.ConfigureGrpcClient(TestIpc.Endpoint).AddDefaultLogger();
        }))
        {
            await TestIpc.AssertServesAsync(client);
        }

        Assert.DoesNotContain(quiet.Categories, c => c.StartsWith("System.Net.Http.HttpClient.", StringComparison.Ordinal));
        Assert.Contains(loud.Categories, c => c.StartsWith("System.Net.Http.HttpClient.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Response_OverTheClientsMaxMessageSize_FailsWithMessageTooLarge()
    {
        // The server's limit is the default 4 MiB; the client's 64 KiB. Each answer is 100 KiB: under the client's gRPC
        // message limit (its MaxMessageSize plus the envelope's allowance), over its MaxMessageSize.
        var address = NewAddress();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc()
            .AddEndpoint(TestIpc.Endpoint, address)
            .AddServer(TestIpc.Endpoint, server => server
                .MapRequest<string, byte[]>("large", _ => new byte[100 * 1024])
                .MapStream<string, byte[]>("large-items", (_, _, _) => new[] { new byte[10], new byte[100 * 1024] }.ToAsyncEnumerable()));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false), e => e.MaxMessageSize = 64 * 1024);

        var request = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, byte[]>("large", "x").AsTask().WaitAsync(TestIpc.Bound));
        var items = new List<int>();
        var stream = await Assert.ThrowsAsync<IpcException>(async () =>
        {
            await foreach (var item in client.Requests().StreamAsync<string, byte[]>("large-items", "x").WithCancellation(new CancellationTokenSource(TestIpc.Bound).Token))
            {
                items.Add(item.Length);
            }
        });

        Assert.Equal(IpcErrorCode.MessageTooLarge, request.ErrorCode);
        Assert.Equal(IpcErrorCode.MessageTooLarge, stream.ErrorCode);
        Assert.Equal([10], items);
        Assert.Contains("MaxMessageSize", request.Message, StringComparison.Ordinal);
        await server.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Fact]
    public async Task Request_HeadersNamedLikeHttpContentHeaders_ReachTheHandler()
    {
        // Names HttpClient takes only on a request's content, or leaves out of an HTTP/2 request: as metadata they were lost.
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address);
        var headers = new Dictionary<string, string>
        {
            ["Content-Language"] = "de-CH",
            ["Content-Encoding"] = "br",
            ["Content-Disposition"] = "attachment; filename=a.txt",
            ["Content-Location"] = "/a",
            ["Content-MD5"] = "Q2hlY2sgSW50ZWdyaXR5IQ==",
            ["Content-Range"] = "bytes 0-9/10",
            ["Expires"] = "Thu, 01 Dec 2033 16:00:00 GMT",
            ["Last-Modified"] = "Thu, 01 Dec 2023 16:00:00 GMT",
            ["Allow"] = "GET",
            ["Proxy-Connection"] = "keep-alive",
            ["x-tenant"] = "contoso",
        };

        var info = await client.Requests().RequestAsync<string, Ipc.Testing.CallInfo>(Ipc.Testing.ConformanceRoutes.Inspect, "hi", new IpcCallOptions { Headers = headers }).AsTask().WaitAsync(TestIpc.Bound);

        var lost = headers.Where(h => !info.Headers.TryGetValue(h.Key, out var received) || received != h.Value).Select(h => h.Key).ToList();
        Assert.True(lost.Count == 0, "lost: " + string.Join(", ", lost));
    }

    [Fact]
    public async Task Request_HeadersLargerThanKestrelTakesAsMetadata_ReachTheHandler()
    {
        // 40,000 bytes of headers: over Kestrel's 32 KiB of request headers, which it refuses by closing the connection.
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
        var headers = new Dictionary<string, string>
        {
            ["x-tenant"] = "contoso",
            ["x-large"] = new string('a', 30_000),
            ["x-large-unicode"] = string.Concat(Enumerable.Repeat("ü✓", 2_000)), // 10,000 bytes of UTF-8, more as -bin
        };

        var info = await client.Requests().RequestAsync<string, Ipc.Testing.CallInfo>(Ipc.Testing.ConformanceRoutes.Inspect, "hi", new IpcCallOptions { Headers = headers }).AsTask().WaitAsync(TestIpc.Bound);

        foreach (var (name, value) in headers)
        {
            Assert.Equal(value, info.Headers[name]);
        }
    }

    [Fact]
    public async Task Request_ReservedNamesAndManyHeaders_ReachTheHandlerAndComeBackUnchanged()
    {
        // Names gRPC, HTTP/2, Kestrel or HttpClient set, refuse or rewrite, an empty value, and more headers than Kestrel
        // takes in one request (100): each must reach the handler as set, and come back the same as response headers.
        var address = NewAddress();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint(TestIpc.Endpoint, address).AddServer(TestIpc.Endpoint, server => server.MapRaw("mirror", (message, context, _) =>
        {
            foreach (var (name, value) in message.Headers)
            {
                context.ResponseHeaders[name] = value;
            }

            return new ValueTask<ReadOnlyMemory<byte>>(message.Body);
        }));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["grpc-timeout"] = "1S", ["grpc-encoding"] = "gzip", ["grpc-accept-encoding"] = "identity", ["grpc-status"] = "13",
            ["grpc-message"] = "not a status", ["grpc-status-details-bin"] = "AAAA", ["grpc-previous-rpc-attempts"] = "3",
            [":path"] = "/elsewhere", [":authority"] = "example.org", ["content-type"] = "text/plain", ["content-length"] = "5",
            ["te"] = "gzip", ["user-agent"] = "my-agent/1.0", ["host"] = "example.org", ["accept-encoding"] = "br",
            ["connection"] = "close", ["transfer-encoding"] = "chunked", ["keep-alive"] = "timeout=5", ["upgrade"] = "websocket",
            ["expect"] = "100-continue", ["trailer"] = "x-after", ["cookie"] = "a=1; b=2", ["authorization"] = "Bearer t0ken",
            ["proxy-authorization"] = "Basic Zm9vOmJhcg==", ["accept"] = "application/json", ["date"] = "Thu, 01 Dec 2033 16:00:00 GMT",
            ["via"] = "1.1 proxy", ["range"] = "bytes=0-9", ["if-match"] = "\"abc\"", ["max-forwards"] = "3", ["priority"] = "u=1",
            ["x-empty"] = string.Empty, ["X-Mixed-Case"] = "Value",
        };
        for (var i = 0; i < 150; i++)
        {
            headers[$"x-h-{i}"] = $"v{i}";
        }

        var request = new IpcMessage("mirror", new byte[] { 1, 2, 3 });
        foreach (var (name, value) in headers)
        {
            request.Headers[name] = value;
        }

        var response = await client.Requests().RequestAsync(request).AsTask().WaitAsync(TestIpc.Bound);

        Assert.Null(response.Fault);
        var lost = headers.Where(h => !response.Headers.TryGetValue(h.Key, out var received) || received != h.Value).Select(h => $"{h.Key}='{(response.Headers.TryGetValue(h.Key, out var r) ? r : "(none)")}'").ToList();
        Assert.True(lost.Count == 0, "lost or altered: " + string.Join(", ", lost));
    }

    [Fact]
    public async Task Request_MalformedEnvelopeOrNoRoute_RefusedAndServerKeepsServing()
    {
        var address = NewAddress();
        using var server = await TestIpc.StartServerAsync(address);
        using var channel = GrpcChannel.ForAddress(address.Replace("grpc://", "http://", StringComparison.Ordinal));
        var garbage = new Method<byte[], byte[]>(MethodType.Unary, "ipc.v1.IpcService", "Request", Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

        var malformed = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker().AsyncUnaryCall(garbage, null, default, [0xFF, 0xFF, 0xFF, 0xFF]).ResponseAsync.WaitAsync(TestIpc.Bound));
        var noRoute = await Assert.ThrowsAsync<RpcException>(() => new Protocol.IpcService.IpcServiceClient(channel).RequestAsync(new Protocol.IpcEnvelope()).ResponseAsync.WaitAsync(TestIpc.Bound));

        Assert.NotEqual(StatusCode.OK, malformed.StatusCode);
        Assert.Equal(StatusCode.Internal, noRoute.StatusCode);
        Assert.Contains("names no route", noRoute.Status.Detail, StringComparison.Ordinal);
        await using var client = TestIpc.CreateClient(address);
        await TestIpc.AssertServesAsync(client);
    }
}
