using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Benchmarks;

/// <summary>
/// Request/response between two processes, as users run it: each candidate's server runs in a process of its own (this
/// program in its <c>callers-serve</c> mode), the caller in this one. The candidates are two hand-written baselines on a Unix
/// socket (a length-prefixed 64-byte echo with blocking <c>Send</c>/<c>Receive</c> and a thread per side, and the same
/// with <c>ReceiveAsync</c>/<c>SendAsync</c>; for 16 callers they keep 16 requests in flight on their one connection), the
/// blocking one again over TCP on loopback (what <c>tcp://</c> compares with), and Ipc over <c>unix://</c>, <c>pipe://</c>
/// and <c>tcp://</c> with the defaults, sending the same 64 bytes to an echo handler.
/// <para>
/// Rounds alternate the candidates (in a rotating order), so a machine whose speed drifts affects them alike; the table
/// shows the median of the rounds. Each round times one caller (p50 and p99 of single calls) and 16 concurrent callers
/// (calls per second, and the processor time of both processes per call).
/// </para>
/// <c>dotnet run -c Release --project tests/Ipc.Benchmarks -- callers [--rounds 10] [--seconds 1] [--busy]</c>;
/// <c>--busy</c> runs a processor-bound process per core beside the benchmark.
/// </summary>
internal static class CrossProcessCallers
{
    private const int PayloadSize = 64;
    private const int Concurrency = 16;

    private static readonly string[] s_candidates = ["raw-blocking", "raw-async", "unix", "pipe", "raw-blocking-tcp", "tcp"];

    private static readonly Dictionary<string, string> s_names = new()
    {
        ["raw-blocking"] = "raw: blocking `Send`/`Receive`, a thread per side (unix socket)",
        ["raw-blocking-tcp"] = "raw: the same over TCP on loopback, Nagle off",
        ["raw-async"] = "raw: `ReceiveAsync`/`SendAsync` (unix socket)",
        ["unix"] = "Ipc `unix://`, defaults",
        ["pipe"] = "Ipc `pipe://`, defaults",
        ["tcp"] = "Ipc `tcp://`, defaults",
    };

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        var rounds = Option(args, "--rounds", 10);
        var seconds = Option(args, "--seconds", 1.0);
        var only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault()?.Split(',') ?? s_candidates;
        var busy = args.Contains("--busy");
        var settings = args.Select((a, i) => (a, i)).Where(p => p.a == "--set" && p.i + 1 < args.Length).Select(p => args[p.i + 1]).ToArray();
        var candidates = new List<Candidate>();
        var burners = new List<Process>();
        try
        {
            foreach (var kind in s_candidates.Where(only.Contains))
            {
                candidates.Add(await Candidate.StartAsync(kind, settings));
            }

            // Warm up every candidate in both processes before the first round, then once more briefly per round.
            foreach (var candidate in candidates)
            {
                await candidate.OneCallerAsync(TimeSpan.FromSeconds(2));
                await candidate.ConcurrentAsync(TimeSpan.FromSeconds(1));
            }

            if (busy)
            {
                for (var i = 0; i < Environment.ProcessorCount; i++)
                {
                    burners.Add(StartSelf("callers-burn"));
                }
            }

            var duration = TimeSpan.FromSeconds(seconds);
            for (var round = 0; round < rounds; round++)
            {
                for (var i = 0; i < candidates.Count; i++)
                {
                    var candidate = candidates[(i + round) % candidates.Count];
                    candidate.Record(await candidate.OneCallerAsync(duration), await candidate.ConcurrentAsync(duration));
                }

                Console.Error.WriteLine($"round {round + 1} of {rounds} done");
            }
        }
        finally
        {
            foreach (var burner in burners)
            {
                burner.Kill();
                await burner.WaitForExitAsync();
                burner.Dispose();
            }

            foreach (var candidate in candidates)
            {
                await candidate.DisposeAsync();
            }
        }

        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{rounds} rounds of {seconds:0.#} s per measure, {PayloadSize}-byte request and response, {Environment.ProcessorCount} processors{(busy ? ", a processor-bound process per core beside the benchmark" : ", machine otherwise quiet")}; medians of the rounds."));
        output.WriteLine();
        output.WriteLine($"| Candidate | p50 one caller | p99 one caller | processor time per call, one caller | allocated per call, one caller | calls/s, {Concurrency} concurrent callers | processor time per call, {Concurrency} callers |");
        output.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var candidate in candidates.OrderBy(c => Array.IndexOf(s_candidates, c.Kind)))
        {
            output.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"| {s_names[candidate.Kind]} | {Median(candidate.P50)} us | {Median(candidate.P99)} us | {Median(candidate.OneCallerCpuPerCall)} us | {(double.IsNaN(candidate.BytesPerCall[0]) ? "-" : Median(candidate.BytesPerCall) + " B")} | {Median(candidate.CallsPerSecond):N0} | {Median(candidate.CpuPerCall):0.0} us |"));
        }

        return 0;
    }

    /// <summary>The server side of one candidate, run in its own process until standard input closes.</summary>
    public static async Task<int> ServeAsync(string kind, string address, string[] settings)
    {
        switch (kind)
        {
            case "raw-blocking":
            case "raw-async":
            case "raw-blocking-tcp":
                var tcp = kind == "raw-blocking-tcp";
                using (var listener = tcp ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
                {
                    listener.Bind(tcp ? IPEndPoint.Parse(address) : new UnixDomainSocketEndPoint(address));
                    listener.Listen();
                    var accepting = kind != "raw-async"
                        ? Task.Factory.StartNew(() => AcceptBlocking(listener), TaskCreationOptions.LongRunning)
                        : AcceptAsync(listener);
                    Console.WriteLine("READY");
                    await Console.In.ReadToEndAsync();
                    listener.Close();
                    if (!tcp)
                    {
                        File.Delete(address);
                    }

                    await accepting.ContinueWith(static _ => { }, TaskScheduler.Default);
                }

                return 0;
            default:
                var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
                builder.Configuration.AddInMemoryCollection(Settings(address, settings));
                builder.Services.AddIpc(builder.Configuration).AddServer("bench", s => s
                    .MapRequest<byte[], byte[]>("echo", static payload => payload)
                    .MapRequest<int, long>("allocated", static _ => GC.GetTotalAllocatedBytes(precise: true))
                    .MapRequest<int, long>("work-items", static _ => ThreadPool.CompletedWorkItemCount));
                using (var host = builder.Build())
                {
                    await host.StartAsync();
                    Console.WriteLine("READY");
                    await Console.In.ReadToEndAsync();
                    await host.StopAsync();
                }

                return 0;
        }
    }

    /// <summary>Keeps one processor busy until killed: the load of <c>--busy</c>.</summary>
    public static int Burn()
    {
        var x = 0UL;
        while (true)
        {
            x = (x * 6364136223846793005UL) + 1442695040888963407UL;
            if (x == 42)
            {
                return 1;
            }
        }
    }

    private static void AcceptBlocking(Socket listener)
    {
        try
        {
            while (true)
            {
                var connection = listener.Accept();
                if (connection.ProtocolType == ProtocolType.Tcp)
                {
                    connection.NoDelay = true;
                }

                new Thread(() => EchoBlocking(connection)) { IsBackground = true }.Start();
            }
        }
        catch (SocketException)
        {
            // closed at the end of the run
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static void EchoBlocking(Socket connection)
    {
        using var _ = connection;
        var buffer = new byte[4 + PayloadSize];
        try
        {
            while (ReceiveExactly(connection, buffer))
            {
                connection.Send(buffer);
            }
        }
        catch (SocketException)
        {
        }
    }

    private static async Task AcceptAsync(Socket listener)
    {
        try
        {
            while (true)
            {
                var connection = await listener.AcceptAsync();
                _ = EchoAsync(connection);
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static async Task EchoAsync(Socket connection)
    {
        using var _ = connection;
        var buffer = new byte[4 + PayloadSize];
        try
        {
            while (await ReceiveExactlyAsync(connection, buffer))
            {
                await connection.SendAsync(buffer);
            }
        }
        catch (SocketException)
        {
        }
    }

    private static bool ReceiveExactly(Socket socket, byte[] buffer)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = socket.Receive(buffer.AsSpan(read));
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    private static async ValueTask<bool> ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read));
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    private static Process StartSelf(params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            start.ArgumentList.Add(typeof(CrossProcessCallers).Assembly.Location); // run as `dotnet Ipc.Benchmarks.dll`
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start)!;
    }

    /// <summary>The endpoint's configuration: its address, and the <c>--set Key=Value</c> settings (keys under <c>Ipc:</c>).</summary>
    private static Dictionary<string, string?> Settings(string address, string[] settings)
    {
        var values = new Dictionary<string, string?> { ["Ipc:Endpoints:bench:Address"] = address };
        foreach (var setting in settings)
        {
            var split = setting.IndexOf('=', StringComparison.Ordinal);
            values["Ipc:" + setting[..split]] = setting[(split + 1)..];
        }

        return values;
    }

    private static T Option<T>(string[] args, string name, T fallback)
        where T : IParsable<T>
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? T.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2].ToString(sorted[sorted.Count / 2] < 100 ? "0.0" : "N0", CultureInfo.InvariantCulture);
    }

    private sealed class Candidate : IAsyncDisposable
    {
        private readonly byte[] _payload = new byte[PayloadSize];
        private Process _server = null!;
        private string _address = null!;
        private ServiceProvider? _services;
        private IRequestClient? _client;

        private Candidate(string kind) => Kind = kind;

        public string Kind { get; }

        public List<double> P50 { get; } = [];

        public List<double> P99 { get; } = [];

        public List<double> CallsPerSecond { get; } = [];

        public List<double> CpuPerCall { get; } = [];

        private bool IsRaw => Kind.StartsWith("raw", StringComparison.Ordinal);

        public static async Task<Candidate> StartAsync(string kind, string[] settings)
        {
            var candidate = new Candidate(kind);
            var id = $"{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
            candidate._address = kind switch
            {
                "raw-blocking" or "raw-async" => Path.Combine(Path.GetTempPath(), $"ipc-bench-{id}.sock"),
                "raw-blocking-tcp" => $"127.0.0.1:{FreePort()}",
                "unix" => $"unix://{Path.Combine(Path.GetTempPath(), $"ipc-bench-{id}.sock")}",
                "pipe" => $"pipe://ipc-bench-{id}",
                "tcp" => $"tcp://127.0.0.1:{FreePort()}",
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown candidate"),
            };
            candidate._server = StartSelf(["callers-serve", kind, candidate._address, .. settings]);
            var ready = await candidate._server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (ready != "READY")
            {
                throw new InvalidOperationException($"the {kind} server did not start: {ready}");
            }

            if (!candidate.IsRaw)
            {
                var services = new ServiceCollection();
                services.AddIpc(new ConfigurationBuilder().AddInMemoryCollection(Settings(candidate._address, settings)).Build());
                candidate._services = services.BuildServiceProvider();
                candidate._client = candidate._services.GetRequiredKeyedService<IRequestClient>("bench");
            }

            return candidate;
        }

        public List<double> OneCallerCpuPerCall { get; } = [];

        public List<double> BytesPerCall { get; } = [];

        public void Record((double P50, double P99, double CpuPerCall, double BytesPerCall) one, (double CallsPerSecond, double CpuPerCall) many)
        {
            P50.Add(one.P50);
            P99.Add(one.P99);
            OneCallerCpuPerCall.Add(one.CpuPerCall);
            BytesPerCall.Add(one.BytesPerCall);
            CallsPerSecond.Add(many.CallsPerSecond);
            CpuPerCall.Add(many.CpuPerCall);
        }

        /// <summary>One caller for <paramref name="duration"/>: the median and 99th percentile of single calls.</summary>
        public async Task<(double P50, double P99, double CpuPerCall, double BytesPerCall)> OneCallerAsync(TimeSpan duration)
        {
            var samples = new List<double>(100_000);
            var serverAllocated = IsRaw ? 0 : await _client!.RequestAsync<int, long>("allocated", 0);
            var serverItems = IsRaw ? 0 : await _client!.RequestAsync<int, long>("work-items", 0);
            var items = ThreadPool.CompletedWorkItemCount;
            var allocated = GC.GetTotalAllocatedBytes(precise: true);
            var cpuBefore = ProcessorTime();
            if (Kind is "raw-blocking" or "raw-blocking-tcp")
            {
                await Task.Factory.StartNew(
                    () =>
                    {
                        using var socket = ConnectRaw();
                        var frame = Frame();
                        var started = Stopwatch.GetTimestamp();
                        while (Stopwatch.GetElapsedTime(started) < duration)
                        {
                            var call = Stopwatch.GetTimestamp();
                            socket.Send(frame);
                            ReceiveExactly(socket, frame);
                            samples.Add(Stopwatch.GetElapsedTime(call).TotalMicroseconds);
                        }
                    },
                    TaskCreationOptions.LongRunning);
            }
            else if (Kind == "raw-async")
            {
                using var socket = ConnectRaw();
                var frame = Frame();
                var started = Stopwatch.GetTimestamp();
                while (Stopwatch.GetElapsedTime(started) < duration)
                {
                    var call = Stopwatch.GetTimestamp();
                    await socket.SendAsync(frame);
                    await ReceiveExactlyAsync(socket, frame);
                    samples.Add(Stopwatch.GetElapsedTime(call).TotalMicroseconds);
                }
            }
            else
            {
                var started = Stopwatch.GetTimestamp();
                while (Stopwatch.GetElapsedTime(started) < duration)
                {
                    var call = Stopwatch.GetTimestamp();
                    await _client!.RequestAsync<byte[], byte[]>("echo", _payload);
                    samples.Add(Stopwatch.GetElapsedTime(call).TotalMicroseconds);
                }
            }

            var cpu = ProcessorTime() - cpuBefore;
            var bytes = IsRaw ? double.NaN : GC.GetTotalAllocatedBytes(precise: true) - allocated + await _client!.RequestAsync<int, long>("allocated", 0) - serverAllocated;
            var calls = samples.Count;
            if (!IsRaw)
            {
                var clientItems = ThreadPool.CompletedWorkItemCount - items;
                var serverItemsAfter = await _client!.RequestAsync<int, long>("work-items", 0);
                Console.Error.WriteLine($"{Kind}: thread-pool work items per call: client {(double)clientItems / calls:0.00}, server {(double)(serverItemsAfter - serverItems) / calls:0.00}");
            }

            samples.Sort();
            return (samples[calls / 2], samples[(int)(calls * 0.99)], cpu.TotalMicroseconds / calls, bytes / calls);
        }

        /// <summary>16 callers at once for <paramref name="duration"/>: calls per second and processor time per call of both processes.</summary>
        public async Task<(double CallsPerSecond, double CpuPerCall)> ConcurrentAsync(TimeSpan duration)
        {
            // The raw baselines keep 16 requests in flight on one connection, with a thread per side (or one asynchronous
            // loop): each answer read is a call done, and a new request goes out for it.
            using var raw = IsRaw ? ConnectRaw() : null;
            {
                var calls = new long[Concurrency];
                using var stop = new CancellationTokenSource();
                var cpuBefore = ProcessorTime();
                var started = Stopwatch.GetTimestamp();
                var callers = Kind switch
                {
                    "raw-blocking" or "raw-blocking-tcp" => [Task.Factory.StartNew(
                        () =>
                        {
                            var frame = Frame();
                            for (var i = 0; i < Concurrency; i++)
                            {
                                raw!.Send(frame);
                            }

                            while (ReceiveExactly(raw!, frame))
                            {
                                calls[0]++;
                                if (stop.IsCancellationRequested)
                                {
                                    break;
                                }

                                raw!.Send(frame);
                            }
                        },
                        TaskCreationOptions.LongRunning)],
                    "raw-async" => [Task.Run(async () =>
                    {
                        var frame = Frame();
                        for (var i = 0; i < Concurrency; i++)
                        {
                            await raw!.SendAsync(frame);
                        }

                        while (await ReceiveExactlyAsync(raw!, frame))
                        {
                            calls[0]++;
                            if (stop.IsCancellationRequested)
                            {
                                break;
                            }

                            await raw!.SendAsync(frame);
                        }
                    })],
                    _ => Enumerable.Range(0, Concurrency).Select(i => Task.Run(async () =>
                    {
                        while (!stop.IsCancellationRequested)
                        {
                            await _client!.RequestAsync<byte[], byte[]>("echo", _payload);
                            calls[i]++;
                        }
                    })).ToArray(),
                };
                await Task.Delay(duration);
                stop.Cancel();
                await Task.WhenAll(callers);
                var elapsed = Stopwatch.GetElapsedTime(started);
                var cpu = ProcessorTime() - cpuBefore;
                var total = calls.Sum();
                return (total / elapsed.TotalSeconds, cpu.TotalMicroseconds / total);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_services is not null)
            {
                await _services.DisposeAsync();
            }

            _server.StandardInput.Close();
            await _server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            _server.Dispose();
        }

        private static int FreePort()
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            return ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        private TimeSpan ProcessorTime()
        {
            _server.Refresh();
            using var self = Process.GetCurrentProcess();
            return self.TotalProcessorTime + _server.TotalProcessorTime;
        }

        private Socket ConnectRaw()
        {
            if (Kind == "raw-blocking-tcp")
            {
                var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                tcp.Connect(IPEndPoint.Parse(_address));
                return tcp;
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(_address));
            return socket;
        }

        private byte[] Frame()
        {
            var frame = new byte[4 + PayloadSize];
            BinaryPrimitives.WriteInt32LittleEndian(frame, PayloadSize);
            return frame;
        }
    }
}
