using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Benchmarks;

/// <summary>
/// A stream transport against a hand-written raw baseline on the same pipe or socket API: the baseline client writes a
/// 4-byte length and a 64-byte payload, and a raw server echoes them back; the Ipc client sends the same 64 bytes as a
/// typed request to an echo handler. Server and client run in this process, on separate connections.
/// </summary>
[MemoryDiagnoser]
public abstract class StreamTransportBenchmarks
{
    private const int OneWayBatch = 10_000;
    private const int BatchSize = 100;

    private readonly byte[] _payload = new byte[64];
    private readonly byte[] _frame = new byte[4 + 64];
    private readonly byte[] _reply = new byte[4 + 64];
    private byte[][] _batch = null!;
    private IHost _server = null!;
    private ServiceProvider _client = null!;
    private IRequestClient _requests = null!;
    private IChannel _channel = null!;
    private IChannel _trimmed = null!;
    private Transports.IIpcTransportClient _transport = null!;
    private byte[] _encodedPayload = null!;
    private RawEchoServer _rawServer = null!;
    private Stream _raw = null!;

    /// <summary>Gets or sets whether handlers and completions run inline on the connections' read loops (<c>UnsafePreferInlineHandlers</c>, <c>UnsafePreferInlineCompletions</c>).</summary>
    [Params(false, true)]
    public bool Inline { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        new Random(64).NextBytes(_payload);
        BinaryPrimitives.WriteInt32LittleEndian(_frame, _payload.Length);
        _payload.CopyTo(_frame, 4);
        _batch = Enumerable.Repeat(_payload, BatchSize).ToArray();

        var address = NewAddress();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        Configure(builder.Services.AddIpc(), Inline).AddEndpoint("bench", address).AddServer("bench", s => s
            .MapRequest<byte[], byte[]>("echo", static payload => payload)
            .MapMessage<byte[]>("note", static (_, _, _) => default));
        _server = builder.Build();
        await _server.StartAsync();

        var services = new ServiceCollection();
        Configure(services.AddIpc(), Inline)
            .AddEndpoint("bench", address)
            .AddEndpoint("bench-trimmed", address)
            .ConfigureResilience("bench-trimmed", r => r.Enabled = false);
        _client = services.BuildServiceProvider();
        _requests = _client.GetRequiredKeyedService<IRequestClient>("bench");
        _channel = _client.GetRequiredKeyedService<IChannel>("bench");
        _trimmed = _client.GetRequiredKeyedService<IChannel>("bench-trimmed");
        _transport = (Transports.IIpcTransportClient)_channel.GetService(typeof(Transports.IIpcTransportClient))!;
        _encodedPayload = MessagePack.MessagePackSerializer.Serialize(_payload, Serialization.MessagePackIpcSerializer.DefaultOptions);

        _rawServer = await StartRawServerAsync();
        _raw = await ConnectRawAsync();
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _raw.DisposeAsync();
        await _rawServer.DisposeAsync();
        await _client.DisposeAsync();
        await _server.StopAsync();
        _server.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw: length-prefixed 64 B echo")]
    public async Task<int> RawRequestAsync()
    {
        await _raw.WriteAsync(_frame);
        await _raw.FlushAsync();
        await _raw.ReadExactlyAsync(_reply);
        return _reply[4];
    }

    [Benchmark(Description = "Ipc: request/response 64 B")]
    public async Task<int> RequestAsync() => (await _requests.RequestAsync<byte[], byte[]>("echo", _payload)).Length;

    [Benchmark(OperationsPerInvoke = OneWayBatch, Description = "Ipc: one-way 64 B (per message)")]
    public async Task SendAsync()
    {
        for (var i = 0; i < OneWayBatch; i++)
        {
            await _channel.SendAsync("note", _payload);
        }
    }

    /// <summary>The same messages sent 100 at a time with <see cref="IChannel.SendBatchAsync{TMessage}"/>: one pipeline run per batch.</summary>
    [Benchmark(OperationsPerInvoke = OneWayBatch, Description = "Ipc: one-way 64 B, SendBatchAsync of 100 (per message)")]
    public async Task SendBatchAsync()
    {
        for (var i = 0; i < OneWayBatch / BatchSize; i++)
        {
            await _channel.SendBatchAsync("note", _batch);
        }
    }

    [Benchmark(OperationsPerInvoke = OneWayBatch, Description = "Ipc: one-way 64 B, Resilience:Enabled=false (per message)")]
    public async Task SendTrimmedAsync()
    {
        for (var i = 0; i < OneWayBatch; i++)
        {
            await _trimmed.SendAsync("note", _payload);
        }
    }

    /// <summary>
    /// The same one-way messages handed straight to the endpoint's transport client, body already serialized: what the
    /// stream transport itself sustains, without the runtime's serialization, resilience pipeline and telemetry.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OneWayBatch, Description = "transport client: one-way 64 B (per message)")]
    public async Task TransportSendAsync()
    {
        for (var i = 0; i < OneWayBatch; i++)
        {
            var message = new IpcMessage("note", _encodedPayload) { ContentType = Serialization.MessagePackIpcSerializer.MediaType };
            await _transport.SendAsync(message, CancellationToken.None);
        }
    }

    /// <summary>Sets the transport's options (the inline switches) on a client or server.</summary>
    protected abstract IIpcBuilder Configure(IIpcBuilder ipc, bool inline);

    /// <summary>Returns a new address of the transport under test.</summary>
    protected abstract string NewAddress();

    /// <summary>Starts the raw echo server on the transport's own API.</summary>
    protected abstract Task<RawEchoServer> StartRawServerAsync();

    /// <summary>Connects a raw client to the raw echo server.</summary>
    protected abstract Task<Stream> ConnectRawAsync();
}

/// <summary>Echoes length-prefixed frames on every connection its accept function returns, until disposed.</summary>
public sealed class RawEchoServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Func<CancellationToken, Task<Stream>> _accept;
    private readonly Func<ValueTask> _release;
    private readonly Task _loop;

    public RawEchoServer(Func<CancellationToken, Task<Stream>> accept, Func<ValueTask> release)
    {
        _accept = accept;
        _release = release;
        _loop = Task.Run(AcceptLoopAsync);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _release();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            var stream = await _accept(_stopping.Token);
            _ = Task.Run(() => EchoAsync(stream));
        }
    }

    private static async Task EchoAsync(Stream stream)
    {
        await using var _ = stream;
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                await stream.ReadExactlyAsync(buffer.AsMemory(0, 4));
                var length = BinaryPrimitives.ReadInt32LittleEndian(buffer);
                await stream.ReadExactlyAsync(buffer.AsMemory(4, length));
                await stream.WriteAsync(buffer.AsMemory(0, 4 + length));
                await stream.FlushAsync();
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ObjectDisposedException)
        {
        }
    }
}
