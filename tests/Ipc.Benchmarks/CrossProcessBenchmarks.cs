using System.Diagnostics;
using System.Globalization;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Benchmarks;

/// <summary>
/// Shared memory against Unix sockets with the server in another process, as users run them, in one run:
/// request/response and one-way 64-byte messages through the transport client and through the runtime, 1 MiB
/// requests (to a raw handler, which reads the body where the transport put it, and to a typed <c>byte[]</c> handler, which
/// gets a copy), and the processor time an idle connected pair uses once the spin has passed. Each column runs on a pair
/// of its own (see <see cref="RunRowAsync"/>). The first row is the hand-written baseline of shared memory
/// (<see cref="RawSharedMemoryPingPong"/>).
/// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- crossprocess [seconds per row] [spin in microseconds, comma-separated] [inline]</c>;
/// <c>inline</c> adds a shared-memory row with <c>UnsafePreferInlineHandlers</c> and <c>UnsafePreferInlineCompletions</c> on both sides.
/// </summary>
internal static class CrossProcessBenchmarks
{
    private const string Endpoint = "bench";
    private static readonly byte[] s_payload = new byte[64];

    /// <summary>The server process: <c>serve &lt;address&gt; &lt;spin µs&gt; [inline]</c>; prints "ready", stops when its standard input closes.</summary>
    public static async Task ServeAsync(string address, TimeSpan spin, bool inline)
    {
        var received = 0L;
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        Configure(builder.Services.AddIpc(), spin, inline)
            .AddEndpoint(Endpoint, address, e => e.MaxMessageSize = 8 * 1024 * 1024)
            .AddServer(Endpoint, s => s
                .MapRequest<byte[], byte[]>("echo", static payload => payload)
                .MapRequest<byte[], int>("sink", static payload => payload.Length)
                .MapRaw("raw-sink", static (message, _, _) => new ValueTask<ReadOnlyMemory<byte>>(Sum(message.Body.Span)))
                .MapRequest<int, long>("count", _ => Interlocked.Read(ref received))
                .MapMessage<byte[]>("note", (_, _, _) =>
                {
                    Interlocked.Increment(ref received);
                    return default;
                }));
        using var host = builder.Build();
        await host.StartAsync();
        Console.WriteLine("ready");
        await Console.In.ReadToEndAsync();
        await host.StopAsync();
    }

    public static async Task RunAsync(TextWriter output, TimeSpan duration, IReadOnlyList<TimeSpan> spins, bool inline)
    {
        output.WriteLine($"Machine: {Environment.ProcessorCount} processors, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}; {duration.TotalSeconds:F1} s per row.");
        output.WriteLine();
        output.WriteLine("| Transport | Spin | request/response 64 B, transport client | the same, each call timed: median, calls over 10 us | request/response 64 B, IRequestClient | one-way 64 B, transport client | one-way 64 B, SendBatchAsync of 100 | 1 MiB requests, raw handler | 1 MiB requests, `byte[]` handler | idle pair: processor of client / server process | idle pair: connection readers of both |");
        output.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var (rawMean, rawMedian, rawSlow) = RawSharedMemoryPingPong.Measure(duration);
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| raw: 64-byte ping-pong through a shared mapping, both sides spinning | always | {Micro(rawMean)} | {Micro(rawMedian)}, {rawSlow:P1} | - | - | - | - | - | - | - |"));
        var rows = spins.Select(spin => ($"shm://bench-{Environment.ProcessId}-{(int)spin.TotalMicroseconds}", spin, Inline: false)).ToList();
        if (inline)
        {
            rows.Add(($"shm://bench-{Environment.ProcessId}-inline", Ipc.SharedMemory.SharedMemoryTransportOptions.DefaultSpin, Inline: true));
        }

        rows.Add(($"unix://{Path.Combine(Path.GetTempPath(), $"bench-{Environment.ProcessId}.sock")}", TimeSpan.FromMicroseconds(50), Inline: false));
        foreach (var (address, spin, inlineRow) in rows)
        {
            await RunRowAsync(output, address, spin, inlineRow, duration);
        }
    }

    /// <remarks>
    /// Each column runs on a pair of its own (a new server process, a new client), warmed up for two seconds on its own path
    /// only, as BenchmarkDotNet runs each benchmark in a process of its own, so that no column measures what an earlier one
    /// left behind: one-way messages still queued, the collector's budgets, a reader the watchdog replaced (a connection
    /// whose reader was replaced 16 times within a minute runs its work on the thread pool for the rest of that minute).
    /// The idle column is read on the last pair, after its 1 MiB requests.
    /// </remarks>
    private static async Task RunRowAsync(TextWriter output, string address, TimeSpan spin, bool inline, TimeSpan duration)
    {
        async Task<double> Measure(Func<Pair, Func<Task>> operation, bool drained = false)
        {
            await using var pair = await Pair.StartAsync(address, spin, inline);
            return await WarmThenMeasureAsync(operation(pair), duration, drained ? pair.Drained : null);
        }

        double transportLatency, median;
        double slow;
        await using (var pair = await Pair.StartAsync(address, spin, inline))
        {
            transportLatency = await WarmThenMeasureAsync(pair.TransportRequest, duration, null);
            (median, slow) = await DistributionAsync(pair.TransportRequest, duration);
        }

        var clientLatency = await Measure(pair => pair.ClientRequest);
        var transportRate = 1000 / await Measure(pair => pair.TransportSend, drained: true);
        var batchRate = 1000 / await Measure(pair => pair.BatchSend, drained: true);

        await using var last = await Pair.StartAsync(address, spin, inline);
        var largeRate = Pair.LargeRaw.Length / await WarmThenMeasureAsync(last.LargeRequest, duration, null);
        var largeTypedRate = Pair.Large.Length / await WarmThenMeasureAsync(last.LargeTypedRequest, duration, null);

        // Idle: let the spin pass, then read both processes' processor time over three seconds. The reader threads' own
        // times are read outside that window, so that reading them (files in /proc) does not count as the client's; and
        // that reading is compiled before the window: the tiered compiler's background thread compiled it (and what it
        // calls) again, hotter, for 20 to 40 ms inside the window, about 1 % of a processor the pair itself does not use.
        var server = last.Server;
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        await CompilerQuietAsync(() => ReaderThreadsTime(Environment.ProcessId) + ReaderThreadsTime(server.Id));
        var readersBefore = ReaderThreadsTime(Environment.ProcessId) + ReaderThreadsTime(server.Id);
        server.Refresh();
        var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var serverBefore = server.TotalProcessorTime;
        var idle = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(3));
        server.Refresh();
        var clientIdle = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore) / idle.Elapsed;
        var serverIdle = (server.TotalProcessorTime - serverBefore) / idle.Elapsed;
        var readersIdle = (ReaderThreadsTime(Environment.ProcessId) + ReaderThreadsTime(server.Id) - readersBefore) / idle.Elapsed;

        var transportName = address.StartsWith("shm", StringComparison.Ordinal) ? inline ? "SharedMemory, inline handlers and completions" : "SharedMemory" : "UnixSocket";
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {transportName} | {spin.TotalMicroseconds:F0} us | {Micro(transportLatency)} | {Micro(median)}, {slow:P1} | {Micro(clientLatency)} | {transportRate:N0}/s | {batchRate:N0}/s | {largeRate / 1e9:F2} GB/s | {largeTypedRate / 1e9:F2} GB/s | {clientIdle:P2} / {serverIdle:P2} | {readersIdle:P2} |"));
    }

    /// <summary>The processor time of a process's connection reader threads (Linux: /proc, in clock ticks of 10 ms), which is where the transport waits.</summary>
    /// <summary>
    /// Runs <paramref name="warm"/> every half second until this process's JIT compiler compiles nothing in that time, for
    /// ten seconds at most.
    /// </summary>
    private static async Task CompilerQuietAsync(Func<TimeSpan> warm)
    {
        for (var i = 0; i < 20; i++)
        {
            var compiled = System.Runtime.JitInfo.GetCompilationTime();
            warm();
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            if (System.Runtime.JitInfo.GetCompilationTime() == compiled)
            {
                return;
            }
        }
    }

    private static TimeSpan ReaderThreadsTime(int pid)
    {
        var ticks = 0L;
        if (!OperatingSystem.IsLinux())
        {
            return TimeSpan.Zero;
        }

        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith("Ipc connection", StringComparison.Ordinal))
                {
                    continue;
                }

                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
            }
            catch (IOException)
            {
                // the thread ended
            }
        }

        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    /// <summary>The raw handler's answer: a sum of the body's bytes, so that it reads every one of them (as an app would), as a MessagePack int.</summary>
    private static byte[] Sum(ReadOnlySpan<byte> body)
    {
        var sums = System.Numerics.Vector<long>.Zero;
        foreach (var value in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, System.Numerics.Vector<long>>(body))
        {
            sums += value;
        }

        return MessagePack.MessagePackSerializer.Serialize(System.Numerics.Vector.Sum(sums), Serialization.MessagePackIpcSerializer.DefaultOptions);
    }

    /// <summary>Seconds as microseconds, to the hundredth (a <see cref="TimeSpan"/> would round them to a tenth).</summary>
    private static string Micro(double seconds) => string.Create(CultureInfo.InvariantCulture, $"{seconds * 1e6:F2} us");

    /// <summary>Runs <paramref name="operation"/> for two seconds (so that it is timed at the runtime's final tier), then times it as <see cref="MeasureAsync"/> does.</summary>
    private static async Task<double> WarmThenMeasureAsync(Func<Task> operation, TimeSpan duration, Func<Task>? settle)
    {
        await MeasureAsync(operation, TimeSpan.FromSeconds(2), settle);
        return await MeasureAsync(operation, duration, settle);
    }

    /// <summary>Runs <paramref name="operation"/> for <paramref name="duration"/> and returns its mean in seconds, <paramref name="settle"/> (waiting for the server to catch up) included.</summary>
    private static async Task<double> MeasureAsync(Func<Task> operation, TimeSpan duration, Func<Task>? settle)
    {
        var count = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < duration)
        {
            await operation();
            count++;
        }

        if (settle is not null)
        {
            await settle();
        }

        return watch.Elapsed.TotalSeconds / count;
    }

    /// <summary>
    /// Times each call of <paramref name="operation"/> for <paramref name="duration"/>: the median, and the share of calls
    /// over 10 us (a collection, a time slice or a wake-up in either process), which the mean hides. A pass of its own,
    /// after the mean's, since reading the clock twice a call adds to what the mean measures.
    /// </summary>
    private static async Task<(double Median, double Slow)> DistributionAsync(Func<Task> operation, TimeSpan duration)
    {
        var latencies = new List<long>(1 << 20);
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < duration)
        {
            var start = Stopwatch.GetTimestamp();
            await operation();
            latencies.Add(Stopwatch.GetTimestamp() - start);
        }

        latencies.Sort();
        var slowTicks = Stopwatch.Frequency / 100_000; // 10 us
        var firstSlow = latencies.FindIndex(ticks => ticks > slowTicks);
        var slow = firstSlow < 0 ? 0 : latencies.Count - firstSlow;
        return ((double)latencies[latencies.Count / 2] / Stopwatch.Frequency, (double)slow / latencies.Count);
    }

    private static Process StartServer(string address, TimeSpan spin, bool inline)
    {
        var microseconds = ((int)spin.TotalMicroseconds).ToString(CultureInfo.InvariantCulture);
        return StartSelf(inline ? ["serve", address, microseconds, "inline"] : ["serve", address, microseconds]);
    }

    /// <summary>Stops a server <see cref="StartSelf"/> started: closes its standard input and waits for it to exit.</summary>
    internal static async Task StopSelfAsync(Process server)
    {
        server.StandardInput.Close();
        await server.WaitForExitAsync();
        server.Dispose();
    }

    /// <summary>The server side of a runner's <c>--server-process</c>: says "ready", serves until standard input closes, then stops and disposes the hosts.</summary>
    internal static async Task ServeUntilInputClosesAsync(params IHost[] hosts)
    {
        Console.WriteLine("ready");
        await Console.In.ReadToEndAsync();
        foreach (var host in hosts)
        {
            await host.StopAsync();
            if (host is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else
            {
                host.Dispose();
            }
        }
    }

    /// <summary>Starts this benchmark again as a server with <paramref name="arguments"/> and waits for it to print "ready"; it stops when its standard input closes.</summary>
    internal static Process StartSelf(IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(CrossProcessBenchmarks).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        if (process.StandardOutput.ReadLine() != "ready")
        {
            throw new InvalidOperationException($"The benchmark server '{string.Join(' ', arguments)}' did not start.");
        }

        return process;
    }

    private static IIpcBuilder Configure(IIpcBuilder ipc, TimeSpan spin, bool inline) => ipc
        .AddSharedMemory(o =>
        {
            o.ReaderSpin = spin;
            o.UnsafePreferInlineHandlers = inline;
            o.UnsafePreferInlineCompletions = inline;
        })
        .AddSockets();

    /// <summary>A server process and a client connected to it, with the operations the columns time.</summary>
    private sealed class Pair : IAsyncDisposable
    {
        public static readonly byte[] LargeRaw = new byte[1024 * 1024];
        public static readonly byte[] Large = MessagePack.MessagePackSerializer.Serialize(new byte[1024 * 1024], Serialization.MessagePackIpcSerializer.DefaultOptions);
        private static readonly byte[] s_serialized = MessagePack.MessagePackSerializer.Serialize(s_payload, Serialization.MessagePackIpcSerializer.DefaultOptions);
        private static readonly byte[][] s_batch = Enumerable.Repeat(s_payload, 100).ToArray();
        private readonly ServiceProvider _client;
        private readonly IRequestClient _requests;
        private readonly IChannel _channel;
        private readonly IIpcTransportClient _transport;
        private long _sent;

        private Pair(Process server, ServiceProvider client)
        {
            Server = server;
            _client = client;
            _requests = client.GetRequiredKeyedService<IRequestClient>(Endpoint);
            _channel = client.GetRequiredKeyedService<IChannel>(Endpoint);
            _transport = (IIpcTransportClient)_channel.GetService(typeof(IIpcTransportClient))!;
        }

        public Process Server { get; }

        public static async Task<Pair> StartAsync(string address, TimeSpan spin, bool inline)
        {
            var server = StartServer(address, spin, inline);
            var services = new ServiceCollection();
            Configure(services.AddIpc(), spin, inline).AddEndpoint(Endpoint, address, e => e.MaxMessageSize = 8 * 1024 * 1024);
            var pair = new Pair(server, services.BuildServiceProvider());
            await pair.ClientRequest(); // connected
            return pair;
        }

        public async Task TransportRequest() =>
            await _transport.RequestAsync(new IpcMessage("echo", s_serialized) { ContentType = Serialization.MessagePackIpcSerializer.MediaType }, CancellationToken.None);

        public async Task ClientRequest() => await _requests.RequestAsync<byte[], byte[]>("echo", s_payload);

        public async Task TransportSend()
        {
            for (var i = 0; i < 1000; i++)
            {
                await _transport.SendAsync(new IpcMessage("note", s_serialized) { ContentType = Serialization.MessagePackIpcSerializer.MediaType }, CancellationToken.None);
            }

            _sent += 1000;
        }

        public async Task BatchSend()
        {
            for (var i = 0; i < 10; i++)
            {
                await _channel.SendBatchAsync("note", s_batch);
            }

            _sent += 1000;
        }

        public async Task LargeRequest() => await _transport.RequestAsync(new IpcMessage("raw-sink", LargeRaw), CancellationToken.None);

        public async Task LargeTypedRequest() =>
            await _transport.RequestAsync(new IpcMessage("sink", Large) { ContentType = Serialization.MessagePackIpcSerializer.MediaType }, CancellationToken.None);

        /// <summary>Waits until the server's handler has received every one-way message sent so far.</summary>
        public async Task Drained()
        {
            while (await _requests.RequestAsync<int, long>("count", 0) < _sent)
            {
                await Task.Yield();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _client.DisposeAsync();
            await StopSelfAsync(Server);
        }
    }
}
