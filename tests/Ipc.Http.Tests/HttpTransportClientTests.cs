using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Ipc.Testing;
using Ipc.TestUtils;
using Ipc.Transports;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ipc.Http.Tests;

/// <summary>The Ipc client over HTTP: failures come back as the same error codes, JSON and MessagePack, HTTP/2.</summary>
public sealed class HttpTransportClientTests
{
    [Fact]
    public async Task StartAsync_AddressWithPassword_FailsValidationWithoutShowingIt() =>
        await TestIpc.AssertRefusesCredentialsAsync($"http://127.0.0.1:{TestAddresses.FreePort()}/calc", "an http:// address has no user name or password, as HttpClient does not send them");

    [Fact]
    public async Task StartAsync_AddressWithQuery_FailsValidationWithoutShowingItsSecret() =>
        await AssertRefusesQuerySecretAsync($"http://127.0.0.1:{TestAddresses.FreePort()}/calc", "an http:// address has a host, a port and a base path, no query or fragment");

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

    [Theory]
    [InlineData(IpcErrorCode.Unknown, 500)]
    [InlineData(IpcErrorCode.Unavailable, 503)]
    [InlineData(IpcErrorCode.Timeout, 504)]
    [InlineData(IpcErrorCode.CircuitOpen, 503)]
    [InlineData(IpcErrorCode.NoHandler, 404)]
    [InlineData(IpcErrorCode.RemoteError, 500)]
    [InlineData(IpcErrorCode.Serialization, 400)]
    [InlineData(IpcErrorCode.MessageTooLarge, 413)]
    [InlineData(IpcErrorCode.ProtocolError, 400)]
    [InlineData(IpcErrorCode.Unauthorized, 401)]
    [InlineData(IpcErrorCode.NotSupported, 501)]
    [InlineData(IpcErrorCode.ResourceExhausted, 429)]
    public async Task RequestAsync_ServerAnswersErrorCode_ThrowsSameCode(IpcErrorCode code, int status)
    {
        Assert.Equal(status, HttpWire.StatusCode(code));
        await using var server = await StartRawServerAsync(app => app.MapPost("/codes/{route}", async (HttpContext context, string route) =>
        {
            var fault = Enum.Parse<IpcErrorCode>(route) == IpcErrorCode.RemoteError
                ? new IpcFault(IpcErrorCode.RemoteError, "no", new IpcRemoteError("ACCOUNT_LOCKED", "no", new Dictionary<string, string> { ["user"] = "42" }))
                : new IpcFault(Enum.Parse<IpcErrorCode>(route), "what went wrong");
            var body = new ArrayBufferWriter<byte>();
            HttpWire.WriteError(body, fault, withErrorCode: false);
            context.Response.StatusCode = HttpWire.StatusCode(fault.ErrorCode);
            context.Response.ContentType = "application/json";
            context.Response.Headers["Ipc-Error-Code"] = fault.ErrorCode.ToString();
            await context.Response.Body.WriteAsync(body.WrittenMemory);
        }));
        await using var client = NoRetryClient($"{server.Url}/codes");

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>(code.ToString(), "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var thrown), ex.ToString());
        Assert.Equal(code, thrown);
        if (code == IpcErrorCode.RemoteError)
        {
            var remote = Assert.IsType<IpcException>(ex).Remote!;
            Assert.Equal("ACCOUNT_LOCKED", remote.Code);
            Assert.Equal("42", remote.Details!["user"]);
        }
    }

    [Theory]
    [InlineData(401, IpcErrorCode.Unauthorized)]
    [InlineData(403, IpcErrorCode.Unauthorized)]
    [InlineData(404, IpcErrorCode.NoHandler)]
    [InlineData(429, IpcErrorCode.ResourceExhausted)]
    [InlineData(502, IpcErrorCode.Unavailable)]
    [InlineData(503, IpcErrorCode.Unavailable)]
    [InlineData(504, IpcErrorCode.Timeout)]
    public async Task RequestAsync_BareStatusFromAProxy_ThrowsCodeOfStatus(int status, IpcErrorCode code)
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/bare/{route}", (HttpContext context) => context.Response.StatusCode = status));
        await using var client = NoRetryClient($"{server.Url}/bare");

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var thrown));
        Assert.Equal(code, thrown);
    }

    [Theory]
    [InlineData(503, """{"error":{"code":"ServiceUnavailable","message":"The upstream is down."}}""", IpcErrorCode.Unavailable)] // a gateway's own error body
    [InlineData(503, """{"error":{"code":503,"message":"The service is unavailable.","status":"UNAVAILABLE"}}""", IpcErrorCode.Unavailable)] // Google's shape
    [InlineData(429, """{"error":{"code":"42","message":"Slow down."}}""", IpcErrorCode.ResourceExhausted)]
    [InlineData(401, """{"error":{"code":"InvalidToken","message":"The token expired."}}""", IpcErrorCode.Unauthorized)]
    public async Task RequestAsync_ErrorBodyWithoutIpcErrorCode_ThrowsCodeOfStatus(int status, string body, IpcErrorCode code)
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/proxy/{route}", async (HttpContext context) =>
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(body);
        }));
        await using var client = NoRetryClient($"{server.Url}/proxy");

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var thrown), ex.ToString());
        Assert.Equal(code, thrown);
        Assert.Null(Assert.IsAssignableFrom<IpcException>(ex).Remote);
    }

    /// <summary>
    /// The client follows no redirect (an app that sends http:// to https://, a moved base path): the call fails with
    /// ProtocolError naming where the server points, so the address can be set to it, not with Unknown.
    /// </summary>
    [Theory]
    [InlineData(301)]
    [InlineData(307)]
    [InlineData(308)]
    public async Task RequestAsync_Redirect_ThrowsProtocolErrorNamingWhereItPoints(int status)
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/old/{route}", (HttpContext context) =>
        {
            context.Response.StatusCode = status;
            context.Response.Headers.Location = "https://calc.example/new/x";
            return Task.CompletedTask;
        }));
        await using var client = NoRetryClient($"{server.Url}/old");

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.ProtocolError, ex.ErrorCode);
        Assert.Contains("redirected the call to https://calc.example/new/x", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_Status500WithoutIpcErrorCode_ReadsTheBodysCode()
    {
        // A handler's error behind a proxy that drops Ipc-Error-Code: 500 says no more than "failed", so the body says what.
        await using var server = await StartRawServerAsync(app => app.MapPost("/proxy/{route}", async (HttpContext context) =>
        {
            context.Response.StatusCode = 500;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"error":{"code":"ACCOUNT_LOCKED","message":"The account is locked.","details":{"retryAfter":"60"}}}""");
        }));
        await using var client = NoRetryClient($"{server.Url}/proxy");

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Equal("ACCOUNT_LOCKED", ex.Remote?.Code);
        Assert.Equal("60", ex.Remote?.Details?["retryAfter"]);
    }

    [Fact]
    public async Task RequestAsync_ErrorBodyWithoutIpcErrorCode_KeepsItsMessage()
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/proxy/{route}", async (HttpContext context) =>
        {
            context.Response.StatusCode = 502;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"error":{"code":"BadGateway","message":"The upstream closed the connection."}}""");
        }));
        await using var client = NoRetryClient($"{server.Url}/proxy");

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.Unavailable, ex.ErrorCode);
        Assert.Contains("The upstream closed the connection.", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("application/x-ndjson", "not json\n")] // a line that is not JSON
    [InlineData("application/x-ndjson", "[1,2]\n")] // JSON, but not an object
    [InlineData("application/vnd.ipc.frames", "0700000001" + "01")] // a frame of a kind that is neither item nor error
    [InlineData("application/vnd.ipc.frames", "00" + "FFFFFFFF")] // a negative length
    public async Task StreamAsync_MalformedStream_ThrowsProtocolError(string contentType, string body)
    {
        var bytes = contentType == "application/x-ndjson" ? System.Text.Encoding.UTF8.GetBytes(body) : Convert.FromHexString(body);
        await using var server = await StartRawServerAsync(app => app.MapPost("/malformed/{route}", async (HttpContext context) =>
        {
            context.Response.ContentType = contentType;
            await context.Response.Body.WriteAsync(bytes);
        }));
        await using var client = NoRetryClient($"{server.Url}/malformed");

        var ex = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var item in client.Requests().StreamAsync<string, int>("numbers", "x").WithCancellation(new CancellationTokenSource(TestIpc.Bound).Token))
            {
                _ = item;
            }
        });

        Assert.True(IpcException.TryGetErrorCode(ex, out var thrown), ex.ToString());
        Assert.Equal(IpcErrorCode.ProtocolError, thrown);
    }

    [Theory]
    [InlineData("42")] // a number that is no code
    [InlineData("Timeout, Unavailable")] // two names, which Enum.TryParse would combine
    public async Task RequestAsync_IpcErrorCodeHeaderNotACode_ThrowsCodeOfStatus(string header)
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/odd/{route}", (HttpContext context) =>
        {
            context.Response.StatusCode = 503;
            context.Response.Headers["Ipc-Error-Code"] = header;
        }));
        await using var client = NoRetryClient($"{server.Url}/odd");

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound));

        Assert.True(IpcException.TryGetErrorCode(ex, out var thrown), ex.ToString());
        Assert.Equal(IpcErrorCode.Unavailable, thrown);
    }

    [Fact]
    public async Task StreamAsync_ErrorLineWithNonStringIpcErrorCode_ThrowsRemoteErrorNotUnknown()
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/odd/{route}", async (HttpContext context) =>
        {
            context.Response.ContentType = "application/x-ndjson";
            await context.Response.WriteAsync("""{"error":{"code":"ACCOUNT_LOCKED","message":"locked","details":{}},"ipcErrorCode":5}""" + "\n");
        }));
        await using var client = NoRetryClient($"{server.Url}/odd");

        var ex = await Assert.ThrowsAsync<IpcException>(async () =>
        {
            await foreach (var item in client.Requests().StreamAsync<string, int>("numbers", "x").WithCancellation(new CancellationTokenSource(TestIpc.Bound).Token))
            {
                _ = item;
            }
        });

        Assert.Equal(IpcErrorCode.RemoteError, ex.ErrorCode);
        Assert.Equal("ACCOUNT_LOCKED", ex.Remote?.Code);
    }

    [Theory]
    [InlineData("send")]
    [InlineData("stream")]
    [InlineData("request")]
    public async Task Call_ConnectionEndsInsideTheErrorBody_ThrowsUnavailable(string call)
    {
        // A server that answers 503 and closes the connection 9 bytes into a body of 1,000.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serve = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            var buffer = new byte[64 * 1024];
            var received = new System.Text.StringBuilder();
            while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await socket.ReceiveAsync(buffer);
                Assert.True(read > 0, "The client closed the connection before its request's headers.");
                received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
            }

            await socket.SendAsync("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"error\":"u8.ToArray());
            socket.Shutdown(SocketShutdown.Send);
            try
            {
                while (await socket.ReceiveAsync(buffer) > 0)
                {
                    // the rest of the request, until the client closes the connection
                }
            }
            catch (SocketException)
            {
            }
        });
        await using var client = NoRetryClient($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/lost");

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => call switch
        {
            "send" => client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint).SendAsync("x", "x").AsTask().WaitAsync(TestIpc.Bound),
            "request" => client.Requests().RequestAsync<string, string>("x", "x").AsTask().WaitAsync(TestIpc.Bound),
            _ => ReadAllAsync(client.Requests().StreamAsync<string, int>("x", "x")).WaitAsync(TestIpc.Bound),
        });

        Assert.True(IpcException.TryGetErrorCode(ex, out var thrown), ex.ToString());
        Assert.True(thrown == IpcErrorCode.Unavailable, ex.ToString());
        await serve.WaitAsync(TestIpc.Bound);

        static async Task ReadAllAsync(IAsyncEnumerable<int> items)
        {
            await foreach (var item in items)
            {
                _ = item;
            }
        }
    }

    [Fact]
    public async Task RequestAsync_JsonClientMessagePackServer_RoundTrips()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address, ipc => ipc.UseSystemTextJson());

        await TestIpc.AssertServesAsync(client); // a request as JSON, and a stream as newline-delimited JSON
        await server.StopAsync();
    }

    [Fact]
    public async Task Post_JsonEndpointStreamWithoutAccept_AnswersNdJson()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.UseSystemTextJson());
        using var http = new HttpClient();

        using var response = await http.PostAsync(address + "/" + ConformanceRoutes.Range, new StringContent("""{"count":2}""", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"item\":0}\n{\"item\":1}\n", await response.Content.ReadAsStringAsync());
        await server.StopAsync();
    }

    [Fact]
    public async Task RequestAsync_Http2_RoundTripsOverHttp2()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => o.Protocol = HttpIpcProtocol.Http2));
        await using var client = TestIpc.CreateClient(address, ipc => ipc.AddHttp(o => o.Protocol = HttpIpcProtocol.Http2));

        await TestIpc.AssertServesAsync(client);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, address + "/add")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StringContent("""{"a":1,"b":1}""", System.Text.Encoding.UTF8, "application/json"),
        };
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("""{"sum":2}""", await response.Content.ReadAsStringAsync());
        await server.StopAsync();
    }

    [Fact]
    public async Task RequestAsync_Http2ClientHttp1Server_ThrowsNotSupportedNamingTheOption()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address, ipc =>
        {
            ipc.AddHttp(o => o.Protocol = HttpIpcProtocol.Http2);
            ipc.ConfigureResilience(r => r.Enabled = false);
        });

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound));

        Assert.Equal(IpcErrorCode.NotSupported, ex.ErrorCode);
        Assert.Contains("Protocol", ex.Message, StringComparison.Ordinal);
        await server.StopAsync();
    }

    [Fact]
    public async Task RequestAsync_NoServer_FailsAtOnceWithUnavailable() =>
        await TestIpc.AssertNoServerFailsAtOnceAsync(HttpTestAddresses.NewHttpAddress());

    [Fact]
    public async Task RequestAsync_NonAsciiHeadersAndIds_ArePreserved()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address);

        var info = await client.Requests().RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "x", new IpcCallOptions
        {
            CorrelationId = "Bestellung-Nr.-ä1",
            Headers = new Dictionary<string, string> { ["tenant"] = "Zürich ", ["plain"] = "=?not-encoded" },
        }).AsTask().WaitAsync(TestIpc.Bound);

        Assert.Equal("Bestellung-Nr.-ä1", info.CorrelationId);
        Assert.Equal("Zürich ", info.Headers["tenant"]);
        Assert.Equal("=?not-encoded", info.Headers["plain"]);
        await server.StopAsync();
    }

    [Theory]
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("Grüße", "=?utf-8?b?R3LDvMOfZQ==?=")]
    [InlineData(" padded", "=?utf-8?b?IHBhZGRlZA==?=")]
    [InlineData("=?looks-encoded", "=?utf-8?b?PT9sb29rcy1lbmNvZGVk?=")]
    public void EncodeValue_Value_FollowsTheDocumentedRule(string value, string wire)
    {
        Assert.Equal(wire, HttpWire.EncodeValue(value));
        Assert.Equal(value, HttpWire.DecodeValue(wire));
    }

    [Fact]
    public async Task RequestAsync_HttpClientFactoryLogging_OffUnlessTheAppAddsItBack()
    {
        await using var server = await StartRawServerAsync(app => app.MapPost("/echo/{route}", async (HttpContext context) =>
        {
            context.Response.ContentType = context.Request.ContentType;
            await context.Request.Body.CopyToAsync(context.Response.Body);
        }));
        var quiet = new CategoryLog();
        var loud = new CategoryLog();

        await using (var client = TestIpc.CreateClient($"{server.Url}/echo", ipc => ipc.Services.AddLogging(logging => logging.AddProvider(quiet))))
        {
            Assert.Equal("hi", await client.Requests().RequestAsync<string, string>("say", "hi").AsTask().WaitAsync(TestIpc.Bound));
        }

        await using (var client = TestIpc.CreateClient($"{server.Url}/echo", ipc =>
        {
            ipc.Services.AddLogging(logging => logging.AddProvider(loud));
            ipc.Services.AddHttpClient(HttpIpcBuilderExtensions.HttpClientName(TestIpc.Endpoint)).AddDefaultLogger();
        }))
        {
            Assert.Equal("hi", await client.Requests().RequestAsync<string, string>("say", "hi").AsTask().WaitAsync(TestIpc.Bound));
        }

        Assert.DoesNotContain(quiet.Categories, c => c.StartsWith("System.Net.Http.HttpClient.", StringComparison.Ordinal));
        Assert.Contains(loud.Categories, c => c.StartsWith($"System.Net.Http.HttpClient.{HttpIpcBuilderExtensions.HttpClientName(TestIpc.Endpoint)}.", StringComparison.Ordinal));
    }

    private static ServiceProvider NoRetryClient(string address) =>
        TestIpc.CreateClient(address, ipc => ipc.ConfigureResilience(r => r.Enabled = false));

    /// <summary>
    /// The path a call goes to is its endpoint's base path and its route, whatever the route's name: a route with a
    /// <c>..</c> segment, which a URL would resolve to another app's endpoint above the base path, is refused unsent, as
    /// is one with an empty segment (<c>/name</c> would be <c>{base}//name</c>, which a proxy that merges slashes changes).
    /// </summary>
    /// <summary>A route name with characters a URL escapes: space, backslash, '?', '#', '%', and an escaped slash.</summary>
    private const string Odd = "odd name\\?#%2F.";

    [Fact]
    public async Task RequestAsync_RouteNamesAUrlWouldResolveAway_NeverLeaveTheBasePath()
    {
        var port = TestAddresses.FreePort();
        var inner = $"http://127.0.0.1:{port}/apps/inner";
        var stolen = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddIpc()
            .AddEndpoint("inner", inner)
            .AddServer("inner", server => server
                .MapRequest<string, string>("b", _ => "inner b")
                .MapRequest<string, string>(Odd, _ => "inner odd"))
            .AddEndpoint("outer", $"http://127.0.0.1:{port}/apps")
            .AddServer("outer", server => server.MapRequest<string, string>("steal", _ =>
            {
                Interlocked.Increment(ref stolen);
                return "outer steal";
            }));
        await using var app = builder.Build();
        app.MapIpc("inner");
        app.MapIpc("outer");
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        var services = new ServiceCollection();
        services.AddIpc().AddEndpoint("inner", inner);
        await using var client = services.BuildServiceProvider();
        var requests = client.GetRequiredKeyedService<IRequestClient>("inner");

        foreach (var route in new[] { "../steal", "x/../../steal", "x/../b", "." })
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<string, string>(route, "x").AsTask().WaitAsync(TestIpc.Bound));
            Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
            Assert.Contains("'.' or '..' segment", ex.Message, StringComparison.Ordinal);
        }

        foreach (var route in new[] { "/rooted", "x//b", "b/" })
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => requests.RequestAsync<string, string>(route, "x").AsTask().WaitAsync(TestIpc.Bound));
            Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
            Assert.Contains("empty segment", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal("inner odd", await requests.RequestAsync<string, string>(Odd, "x").AsTask().WaitAsync(TestIpc.Bound));
        Assert.Equal("inner b", await requests.RequestAsync<string, string>("b", "x").AsTask().WaitAsync(TestIpc.Bound));

        // The transport itself, given such a route (as by a client of its own), does not send it either.
        var transport = client.GetServices<IIpcTransport>().Single(t => t.Name == "Http");
        await using (var raw = transport.CreateClient(new IpcTransportContext("inner", new Uri(inner), client)))
        {
            var ex = await Assert.ThrowsAsync<IpcException>(() => raw.RequestAsync(new IpcMessage("../steal", new byte[] { 0xa1, 0x78 }), CancellationToken.None).AsTask().WaitAsync(TestIpc.Bound));
            Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
            Assert.True(ex.NotAccepted);
            Assert.Contains("/apps/steal", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, Volatile.Read(ref stolen));
        await app.StopAsync().WaitAsync(TestIpc.Bound);
    }

    private static async Task<RawServer> StartRawServerAsync(Action<WebApplication> map)
    {
        var port = TestAddresses.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        map(app);
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        return new RawServer(app, $"http://127.0.0.1:{port}");
    }

    private sealed record RawServer(WebApplication App, string Url) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
