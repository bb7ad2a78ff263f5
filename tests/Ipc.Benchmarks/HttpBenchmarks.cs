using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Benchmarks;

/// <summary>
/// <c>http://</c> against a hand-written baseline on the same stack: a raw <see cref="HttpClient"/> POSTs the same 64 bytes
/// to a raw minimal-API endpoint on Kestrel that echoes them; the Ipc client sends them as a typed request to an echo
/// handler on the transport's own Kestrel. Both on loopback, HTTP/1.1, with the servers in this process or, with
/// <see cref="ServersInOtherProcess"/>, in one of their own.
/// </summary>
[MemoryDiagnoser]
public class HttpBenchmarks
{
    private readonly byte[] _payload = new byte[64];
    private readonly CancellationTokenSource _cancellation = new();
    private IHost? _server;
    private System.Diagnostics.Process? _serverProcess;
    private ServiceProvider _client = null!;
    private IRequestClient _requests = null!;
    private IRequestClient _trimmed = null!;
    private Transports.IIpcTransportClient _transport = null!;
    private byte[] _encoded = null!;
    private WebApplication? _rawServer;
    private HttpClient _raw = null!;
    private Uri _rawUri = null!;
    private Uri _ipcUri = null!;

    /// <summary>Gets or sets a value indicating whether both servers run in a process of their own, as the clients of an HTTP service usually do, rather than in the benchmark's.</summary>
    public bool ServersInOtherProcess { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        new Random(64).NextBytes(_payload);
        var ipcPort = FreePort();
        var rawPort = FreePort();
        var address = $"http://127.0.0.1:{ipcPort}/bench";
        if (ServersInOtherProcess)
        {
            _serverProcess = CrossProcessBenchmarks.StartSelf(["http-serve", ipcPort.ToString(CultureInfo.InvariantCulture), rawPort.ToString(CultureInfo.InvariantCulture)]);
        }
        else
        {
            (_server, _rawServer) = await StartServersAsync(ipcPort, rawPort);
        }

        var services = new ServiceCollection();
        services.AddIpc().AddEndpoint("bench", address).AddEndpoint("bench-trimmed", address).ConfigureResilience("bench-trimmed", r => r.Enabled = false);
        _client = services.BuildServiceProvider();
        _requests = _client.GetRequiredKeyedService<IRequestClient>("bench");
        _trimmed = _client.GetRequiredKeyedService<IRequestClient>("bench-trimmed");
        _transport = (Transports.IIpcTransportClient)_client.GetRequiredKeyedService<IChannel>("bench").GetService(typeof(Transports.IIpcTransportClient))!;
        _encoded = MessagePack.MessagePackSerializer.Serialize(_payload, Serialization.MessagePackIpcSerializer.DefaultOptions);
        _raw = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false });
        _rawUri = new Uri($"http://127.0.0.1:{rawPort}/echo");
        _ipcUri = new Uri(address + "/echo");
    }

    /// <summary>Starts both servers, the Ipc endpoint's on its own Kestrel and the raw minimal API, on loopback.</summary>
    public static async Task<(IHost Ipc, WebApplication Raw)> StartServersAsync(int ipcPort, int rawPort)
    {
        var address = $"http://127.0.0.1:{ipcPort}/bench";
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddIpc().AddEndpoint("bench", address).AddServer("bench", s => s.MapRequest<byte[], byte[]>("echo", static payload => payload));
        var server = builder.Build();
        await server.StartAsync();

        var raw = WebApplication.CreateSlimBuilder();
        raw.Logging.ClearProviders();
        raw.WebHost.UseUrls($"http://127.0.0.1:{rawPort}");
        var rawServer = raw.Build();
        rawServer.MapPost("/echo", static async (HttpContext context) =>
        {
            var body = new byte[context.Request.ContentLength ?? 0];
            await context.Request.Body.ReadExactlyAsync(body);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
        await rawServer.StartAsync();
        return (server, rawServer);
    }

    /// <summary>The server process of <c>http --server-process</c>: both servers until standard input closes.</summary>
    public static async Task ServeAsync(int ipcPort, int rawPort)
    {
        var (ipc, raw) = await StartServersAsync(ipcPort, rawPort);
        await CrossProcessBenchmarks.ServeUntilInputClosesAsync(raw, ipc);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _cancellation.Dispose();
        _raw.Dispose();
        if (_serverProcess is { } process)
        {
            await CrossProcessBenchmarks.StopSelfAsync(process);
        }

        if (_rawServer is not null)
        {
            await _rawServer.StopAsync();
            await _rawServer.DisposeAsync();
        }

        await _client.DisposeAsync();
        if (_server is not null)
        {
            await _server.StopAsync();
            _server.Dispose();
        }
    }

    [Benchmark(Baseline = true, Description = "raw: HttpClient POST of 64 B to a minimal API")]
    public async Task<int> RawRequestAsync()
    {
        using var content = new ByteArrayContent(_payload);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await _raw.PostAsync(_rawUri, content);
        return (await response.Content.ReadAsByteArrayAsync()).Length;
    }

    [Benchmark(Description = "Ipc: request/response 64 B over http://")]
    public async Task<int> RequestAsync() => (await _requests.RequestAsync<byte[], byte[]>("echo", _payload)).Length;

    [Benchmark(Description = "Ipc: request/response 64 B over http://, Resilience:Enabled=false")]
    public async Task<int> TrimmedRequestAsync() => (await _trimmed.RequestAsync<byte[], byte[]>("echo", _payload)).Length;

    [Benchmark(Description = "transport client: request/response 64 B over http://")]
    public async Task<int> TransportRequestAsync() =>
        (await _transport.RequestAsync(new IpcMessage("echo", _encoded) { ContentType = Serialization.MessagePackIpcSerializer.MediaType }, CancellationToken.None)).Body.Length;

    /// <summary>The transport client given what a typed call hands it: a deadline, a token that can be cancelled and a correlation id.</summary>
    [Benchmark(Description = "transport client: request/response 64 B over http://, as a typed call hands it (deadline, cancellable token, correlation id)")]
    public async Task<int> TransportAsTypedAsync()
    {
        var message = new IpcMessage("echo", _encoded) { ContentType = Serialization.MessagePackIpcSerializer.MediaType, Timeout = TimeSpan.FromSeconds(10) };
        message.CorrelationId = message.MessageId;
        return (await _transport.RequestAsync(message, _cancellation.Token)).Body.Length;
    }

    /// <summary>The baseline's own client calling the Ipc server: the server's share of the gap.</summary>
    [Benchmark(Description = "raw HttpClient POST of the serialized 64 B to the Ipc server")]
    public async Task<int> RawToIpcServerAsync()
    {
        using var content = new ByteArrayContent(_encoded);
        content.Headers.ContentType = new MediaTypeHeaderValue(Serialization.MessagePackIpcSerializer.MediaType);
        using var response = await _raw.PostAsync(_ipcUri, content);
        return (await response.Content.ReadAsByteArrayAsync()).Length;
    }

    /// <summary>
    /// The baseline and the Ipc calls alternated in blocks of 500 calls, 40 times, as <see cref="InterleavedRatios"/> does
    /// for the stream transports, so each block of Ipc calls runs under the same load as the raw block before it, after
    /// the warm-up of <see cref="GrpcBenchmarks.WarmUp"/> that lets the tiered compiler finish:
    /// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- http [--server-process]</c>.
    /// </summary>
    public static async Task RunInterleavedAsync(TextWriter output, bool serversInOtherProcess = false)
    {
        const int Blocks = 40;
        const int BlockSize = 500;
        var benchmark = new HttpBenchmarks { ServersInOtherProcess = serversInOtherProcess };
        await benchmark.SetupAsync();
        try
        {
            var calls = new (string Name, Func<Task<int>> Call)[]
            {
                ("raw: HttpClient POST to a minimal API", benchmark.RawRequestAsync),
                ("Ipc: RequestAsync (defaults)", benchmark.RequestAsync),
                ("Ipc: RequestAsync, Resilience:Enabled=false", benchmark.TrimmedRequestAsync),
                ("transport client alone", benchmark.TransportRequestAsync),
                ("transport client as a typed call hands it (deadline, cancellable token, correlation id)", benchmark.TransportAsTypedAsync),
                ("raw HttpClient calling the Ipc server", benchmark.RawToIpcServerAsync),
            };
            var warmUp = Stopwatch.StartNew();
            for (var i = 0; i < 2_000 || warmUp.Elapsed < GrpcBenchmarks.WarmUp; i++)
            {
                foreach (var (_, call) in calls)
                {
                    await call();
                }
            }

            var means = calls.Select(_ => new List<double>()).ToArray();
            var ratios = calls.Select(_ => new List<double>()).ToArray();
            var workItems = new long[calls.Length];
            var allocated = new long[calls.Length];
            var collections = new long[calls.Length];
            var paused = new TimeSpan[calls.Length];
            for (var block = 0; block < Blocks; block++)
            {
                for (var c = 0; c < calls.Length; c++)
                {
                    var items = ThreadPool.CompletedWorkItemCount;
                    var bytes = GC.GetTotalAllocatedBytes(precise: false);
                    var gcs = GC.CollectionCount(0);
                    var pause = GC.GetTotalPauseDuration();
                    var watch = Stopwatch.StartNew();
                    for (var i = 0; i < BlockSize; i++)
                    {
                        await calls[c].Call();
                    }

                    means[c].Add(watch.Elapsed.TotalMicroseconds / BlockSize);
                    workItems[c] += ThreadPool.CompletedWorkItemCount - items;
                    allocated[c] += GC.GetTotalAllocatedBytes(precise: false) - bytes;
                    collections[c] += GC.CollectionCount(0) - gcs;
                    paused[c] += GC.GetTotalPauseDuration() - pause;
                    ratios[c].Add(means[c][^1] / means[0][^1]);
                }
            }

            output.WriteLine("| Call | Mean of blocks | Ratio of means | Ratio of blocks: median (p25 to p75) |");
            output.WriteLine("| --- | ---: | ---: | ---: |");
            for (var c = 0; c < calls.Length; c++)
            {
                ratios[c].Sort();
                output.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"| {calls[c].Name} | {means[c].Average():F1} us | {means[c].Average() / means[0].Average():F2} | {ratios[c][Blocks / 2]:F2} ({ratios[c][Blocks / 4]:F2} to {ratios[c][3 * Blocks / 4]:F2}) |"));
            }

            // What the timings do not show (this process: client and server together, or the clients alone with the servers
            // in their own process): thread-pool work items and bytes allocated per call, and the collections they cost.
            for (var c = 0; c < calls.Length; c++)
            {
                Console.Error.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{calls[c].Name}: {(double)workItems[c] / (Blocks * BlockSize):F2} work items, {allocated[c] / (Blocks * BlockSize)} B allocated per call; {collections[c]} gen0 collections, {paused[c].TotalMilliseconds:F0} ms paused in all"));
            }
        }
        finally
        {
            await benchmark.CleanupAsync();
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
