using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Http.Tests;

/// <summary>The options a server and a client take away from the defaults, each seen from outside.</summary>
public sealed class HttpOptionsTests : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TestIpc.Bound };

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task MapHealthAndMapOpenApiOff_NeitherIsServedWhileTheRoutesAre()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o =>
        {
            o.MapHealth = false;
            o.MapOpenApi = false;
        }));
        try
        {
            using var health = await _http.GetAsync(address + "/health");
            using var openApi = await _http.GetAsync(address + "/openapi.json");

            Assert.Equal(HttpStatusCode.MethodNotAllowed, health.StatusCode); // only POST {base}/{route} is mapped
            Assert.Equal(HttpStatusCode.MethodNotAllowed, openApi.StatusCode);
            await using var client = TestIpc.CreateClient(address);
            await TestIpc.AssertServesAsync(client);
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    [Theory]
    [InlineData("application/x-msgpack")]
    [InlineData("application/json")]
    public async Task ResponseCompression_AnswerCompressedForAClientThatAccepts(string format)
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address);
        try
        {
            var (plain, compressed) = await PostTwiceAsync(address + "/" + ConformanceRoutes.Echo, format, format, new Payload(new byte[8192]));
            using var disposePlain = plain;
            using var disposeCompressed = compressed;

            Assert.Equal("gzip", Assert.Single(compressed.Content.Headers.ContentEncoding));
            var expected = await plain.Content.ReadAsByteArrayAsync();
            var zipped = await compressed.Content.ReadAsByteArrayAsync();
            using var unzipped = new MemoryStream();
            await using (var gzip = new System.IO.Compression.GZipStream(new MemoryStream(zipped), System.IO.Compression.CompressionMode.Decompress))
            {
                await gzip.CopyToAsync(unzipped);
            }

            Assert.Equal(expected, unzipped.ToArray());
            Assert.True(zipped.Length < expected.Length / 4, $"{zipped.Length} bytes compressed from {expected.Length}");
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    /// <summary>A stream's items are flushed one by one, and a compressor's flush per small item costs more than it saves: streams go uncompressed.</summary>
    [Theory]
    [InlineData("application/x-msgpack", "application/vnd.ipc.frames")]
    [InlineData("application/json", "application/x-ndjson")]
    public async Task ResponseCompression_StreamsGoUncompressed(string format, string streamed)
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address);
        try
        {
            var (plain, asked) = await PostTwiceAsync(address + "/" + ConformanceRoutes.Range, format, streamed, new RangeRequest(2000));
            using var disposePlain = plain;
            using var disposeAsked = asked;

            Assert.Equal(streamed, asked.Content.Headers.ContentType?.MediaType);
            Assert.Empty(asked.Content.Headers.ContentEncoding);
            Assert.Equal(await plain.Content.ReadAsByteArrayAsync(), await asked.Content.ReadAsByteArrayAsync());
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    [Fact]
    public async Task ResponseCompressionOff_AnswersUncompressedToAClientThatAccepts()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.AddHttp(o => o.ResponseCompression = false));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, address + "/" + ConformanceRoutes.Echo)
            {
                Content = new StringContent($$"""{"data":"{{Convert.ToBase64String(new byte[8192])}}"}""", MediaTypeHeaderValue.Parse("application/json")),
            };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));

            using var response = await _http.SendAsync(request);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty(response.Content.Headers.ContentEncoding);
            Assert.True(response.Content.Headers.ContentLength > 8192);
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    [Fact]
    public async Task MaxConnectionsPerServer_CallsShareThatManyConnections()
    {
        var address = HttpTestAddresses.NewHttpAddress();
        var peers = new ConcurrentDictionary<string, int>();
        var running = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new Microsoft.Extensions.Hosting.HostApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint("held", address).AddServer("held", s => s.MapRequest<int, int>("hold", async (x, context, cancellationToken) =>
        {
            peers.AddOrUpdate(context.RemoteAddress!, 1, (_, n) => n + 1);
            Interlocked.Increment(ref running);
            await gate.Task.WaitAsync(cancellationToken);
            return x;
        }));
        using var server = builder.Build();
        await server.StartAsync().WaitAsync(TestIpc.Bound);
        try
        {
            var services = new ServiceCollection();
            services.AddIpc().AddHttp(o =>
            {
                o.MaxConnectionsPerServer = 2;
                o.MaxConcurrentSends = 1;
            }).AddEndpoint("held", address).ConfigureResilience("held", r => r.Enabled = false);
            await using var client = services.BuildServiceProvider();
            var requests = client.GetRequiredKeyedService<IRequestClient>("held");

            // Six calls at once: two connections carry two of them, the other four wait for one of those.
            var calls = Enumerable.Range(0, 6).Select(i => requests.RequestAsync<int, int>("hold", i).AsTask()).ToList();
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            while (Volatile.Read(ref running) < 2)
            {
                await Task.Delay(10, bound.Token);
            }

            gate.SetResult();
            Assert.Equal(Enumerable.Range(0, 6), await Task.WhenAll(calls).WaitAsync(TestIpc.Bound));
            Assert.Equal(2, peers.Count); // without the limit, the four waiting calls open connections of their own
            Assert.Equal(6, peers.Values.Sum());
        }
        finally
        {
            await server.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    /// <summary>
    /// A client has at most MaxConcurrentSends one-way messages on the way: with six sent at once and the server holding
    /// each, two reach it, and a request made meanwhile is answered beside them; once the server lets them go, all six
    /// arrive, never more than two at a time.
    /// </summary>
    [Fact]
    public async Task MaxConcurrentSends_ThatManyOneWayMessagesAreOnTheWayAtOnce()
    {
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}/notes";
        var handled = new ConcurrentBag<int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int held = 0, most = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddIpc().AddEndpoint("notes", address).AddServer("notes", s => s
            .MapMessage<int>("note", (n, _, _) =>
            {
                handled.Add(n);
                if (handled.Count == 6)
                {
                    all.TrySetResult();
                }

                return default;
            })
            .MapRequest<int, int>("echo", n => n));
        await using var app = builder.Build();
        app.Use(async (context, next) =>
        {
            // Holds each one-way message before the server takes it, counting how many are here at once.
            if (context.Request.Headers["Ipc-Call"] == "send")
            {
                var now = Interlocked.Increment(ref held);
                InterlockedMax(ref most, now);
                await gate.Task.WaitAsync(context.RequestAborted);
                Interlocked.Decrement(ref held);
            }

            await next(context);
        });
        app.MapIpc("notes");
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        try
        {
            var services = new ServiceCollection();
            services.AddIpc().AddHttp(o => o.MaxConcurrentSends = 2).AddEndpoint("notes", address).ConfigureResilience("notes", r => r.Enabled = false);
            await using var client = services.BuildServiceProvider();
            var channel = client.GetRequiredKeyedService<IChannel>("notes");

            var sends = Enumerable.Range(0, 6).Select(i => channel.SendAsync("note", i).AsTask()).ToList();
            using var bound = new CancellationTokenSource(TestIpc.Bound);
            while (Volatile.Read(ref held) < 2)
            {
                await Task.Delay(10, bound.Token);
            }

            // A request goes out on a connection of its own and is answered while the two sends are held; by then a
            // client without the limit has the other four at the server too.
            Assert.Equal(7, await client.GetRequiredKeyedService<IRequestClient>("notes").RequestAsync<int, int>("echo", 7).AsTask().WaitAsync(TestIpc.Bound));
            Assert.Equal(2, Volatile.Read(ref held));

            gate.SetResult();
            await Task.WhenAll(sends).WaitAsync(TestIpc.Bound);
            await all.Task.WaitAsync(TestIpc.Bound);
            Assert.Equal(Enumerable.Range(0, 6), handled.Order());
            Assert.Equal(2, most);
        }
        finally
        {
            gate.TrySetResult();
            await app.StopAsync().WaitAsync(TestIpc.Bound);
        }

        static void InterlockedMax(ref int target, int value)
        {
            var seen = Volatile.Read(ref target);
            while (value > seen && Interlocked.CompareExchange(ref target, value, seen) is var now && now != seen)
            {
                seen = now;
            }
        }
    }

    /// <summary>
    /// A client disposed while one-way messages wait for a MaxConcurrentSends slot does not strand them: the message on the
    /// way is answered (accepted, so no error), and the one that waited then fails as disposed instead of waiting forever.
    /// </summary>
    [Fact]
    public async Task MaxConcurrentSends_ClientDisposedWithSendsWaiting_EachSendEnds()
    {
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}/notes";
        var handled = new ConcurrentQueue<int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddIpc().AddEndpoint("notes", address).AddServer("notes", s => s.MapMessage<int>("note", (n, _, _) =>
        {
            handled.Enqueue(n);
            return default;
        }));
        await using var app = builder.Build();
        app.Use(async (context, next) =>
        {
            arrived.TrySetResult();
            await gate.Task.WaitAsync(context.RequestAborted); // holds the first message on the way
            await next(context);
        });
        app.MapIpc("notes");
        await app.StartAsync().WaitAsync(TestIpc.Bound);

        var services = new ServiceCollection();
        services.AddIpc().AddHttp(o => o.MaxConcurrentSends = 1).AddEndpoint("notes", address).ConfigureResilience("notes", r => r.Enabled = false);
        var client = services.BuildServiceProvider();
        var channel = client.GetRequiredKeyedService<IChannel>("notes");
        var first = channel.SendAsync("note", 1).AsTask();
        await arrived.Task.WaitAsync(TestIpc.Bound);
        var waiting = channel.SendAsync("note", 2).AsTask(); // waits for the one slot

        await client.DisposeAsync();
        gate.SetResult();

        await first.WaitAsync(TestIpc.Bound); // accepted: no ObjectDisposedException from the slot it gives back
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(TestIpc.Bound));
        Assert.Equal([1], handled);
        await app.StopAsync().WaitAsync(TestIpc.Bound);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AcceptCompressedResponses_TheClientAsksForThemOnlyWhenOn(bool accept)
    {
        // An app that maps the endpoint and notes what each request accepts.
        var port = TestAddresses.FreePort();
        var address = $"http://127.0.0.1:{port}/calc";
        var accepted = new ConcurrentQueue<string>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Services.AddIpc().AddEndpoint("conformance", address).AddServer("conformance", s => s.MapConformanceRoutes(new ConformanceProbe()));
        await using var app = builder.Build();
        app.Use(async (context, next) =>
        {
            accepted.Enqueue(context.Request.Headers.AcceptEncoding.ToString());
            await next(context);
        });
        app.MapIpc("conformance");
        await app.StartAsync().WaitAsync(TestIpc.Bound);
        try
        {
            await using var client = TestIpc.CreateClient(address, ipc => ipc.AddHttp(o => o.AcceptCompressedResponses = accept));

            var echoed = await client.Requests().RequestAsync<Payload, Payload>(ConformanceRoutes.Echo, new Payload(new byte[8192])).AsTask().WaitAsync(TestIpc.Bound);

            Assert.Equal(new byte[8192], echoed.Data);
            var encodings = Assert.Single(accepted);
            Assert.Equal(accept, encodings.Contains("gzip", StringComparison.Ordinal));
        }
        finally
        {
            await app.StopAsync().WaitAsync(TestIpc.Bound);
        }
    }

    /// <summary>Posts <paramref name="message"/> twice as <paramref name="format"/>, accepting <paramref name="accept"/>: without, then with Accept-Encoding: gzip.</summary>
    private async Task<(HttpResponseMessage Plain, HttpResponseMessage Gzip)> PostTwiceAsync<T>(string uri, string format, string accept, T message)
    {
        IIpcSerializer serializer = format == "application/json" ? new Serialization.SystemTextJsonIpcSerializer() : new Serialization.MessagePackIpcSerializer();
        var body = new System.Buffers.ArrayBufferWriter<byte>();
        serializer.Serialize(body, message);
        HttpRequestMessage Request(bool gzip)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body.WrittenSpan.ToArray()) };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(format);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            if (gzip)
            {
                request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
            }

            return request;
        }

        var plain = await _http.SendAsync(Request(gzip: false));
        var zipped = await _http.SendAsync(Request(gzip: true));
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal(HttpStatusCode.OK, zipped.StatusCode);
        return (plain, zipped);
    }
}
