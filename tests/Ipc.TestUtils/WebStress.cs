using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.TestUtils;

/// <summary>A request of the stress server's JSON route.</summary>
public sealed record StressSum(int A, int B);

/// <summary>The answer of the stress server's JSON route.</summary>
public sealed record StressTotal(int Sum);

/// <summary>A stream of the stress server: <paramref name="Count"/> items, each after <paramref name="DelayMs"/>, its token heeded or not.</summary>
public sealed record StressStream(int Count, int DelayMs, bool Deaf);

/// <summary>A one-way message of the stress server, padded to a size.</summary>
public sealed record StressNote(long Id, string Pad, int DelayMs);

/// <summary>How a stress run goes.</summary>
public sealed class WebStressOptions
{
    /// <summary>Gets the address scheme and authority prefix: <c>http</c> or <c>grpc</c>.</summary>
    public required string Scheme { get; init; }

    /// <summary>Gets what registers the transport on the server and the client (AddHttp, AddGrpc...).</summary>
    public required Action<IIpcBuilder> Transport { get; init; }

    public int Seed { get; init; } = Environment.TickCount;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public int Callers { get; init; } = 32;

    /// <summary>Gets whether plain HttpClient JSON calls run beside the Ipc client (HTTP only); HTTP/2 prior knowledge when set to 2.</summary>
    public int PlainHttpVersion { get; init; }

    public bool Restarts { get; init; } = true;

    public bool ClientDisposes { get; init; } = true;

    public bool Resilience { get; init; }

    public int MaxMessageSize { get; init; } = 64 * 1024;

    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Gets whether a gRPC stream write refused because its call had ended ("the request is complete") fails the run.</summary>
    public bool StrictGrpcWrites { get; init; }

    /// <summary>Gets how long any one call may take before it counts as hung.</summary>
    public TimeSpan CallBound { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A randomized, concurrent, mixed workload against one endpoint (its server restarted now and then, its client disposed
/// under calls), checking that every call ends in bound with an expected outcome, one-way messages are handled once, the
/// server logs no unexpected error and stops within its DrainTimeout, and nothing is left listening.
/// </summary>
public sealed class WebStress
{
    private readonly WebStressOptions _o;
    private readonly Action<string> _out;
    private readonly int _port = TestAddresses.FreePort();
    private readonly string _address;
    private readonly EventLog _log = new();
    private readonly ConcurrentDictionary<long, int> _handled = new();
    private readonly ConcurrentDictionary<long, byte> _accepted = new();
    private readonly ConcurrentDictionary<long, int> _sent = new(); // id → the handler's delay
    private readonly ConcurrentDictionary<string, int> _outcomes = new();
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly ConcurrentDictionary<string, DateTime> _pendingCalls = new();
    private long _nextId;
    private long _calls;
    private int _inHandlers;
    private int _restarts;
    private int _disposes;
    private int _stopsHappened;
    private int _disturbed; // bumped as a server stop or client swap begins
    private long _calmedAt; // when the last change ended
    private int _calmed; // bumped as it ends: a call that began or ended while they differed, or spans a change, may see Unavailable
    private volatile IHost? _server;
    private volatile ServiceProvider? _client;

    public WebStress(WebStressOptions options, Action<string> output)
    {
        _o = options;
        _out = output;
        _address = options.Scheme == "grpc" ? $"grpc://127.0.0.1:{_port}" : $"{options.Scheme}://127.0.0.1:{_port}/stress";
    }

    public IReadOnlyCollection<string> Problems => _problems;

    public long Calls => Interlocked.Read(ref _calls);

    public async Task RunAsync()
    {
        _out($"stress {_address} seed={_o.Seed} callers={_o.Callers} duration={_o.Duration} restarts={_o.Restarts} disposes={_o.ClientDisposes} plain={_o.PlainHttpVersion} resilience={_o.Resilience}");
        _server = await StartServerAsync();
        _client = CreateClient();
        using var plain = _o.PlainHttpVersion == 0 ? null : new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(20) };
        var master = new Random(_o.Seed);
        var end = DateTime.UtcNow + _o.Duration;
        var callers = Enumerable.Range(0, _o.Callers).Select(i => Task.Run(() => CallerAsync(new Random(master.Next()), i, end, plain))).ToList();
        var chaos = Task.Run(() => ChaosAsync(new Random(master.Next()), end));
        var all = Task.WhenAll(callers.Append(chaos));
        if (await Task.WhenAny(all, Task.Delay(_o.Duration + _o.CallBound + TimeSpan.FromSeconds(60))) != all)
        {
            Problem($"HANG: the workload did not end; pending calls: {string.Join("; ", _pendingCalls.Select(p => $"{p.Key} since {p.Value:O}"))}");
            return;
        }

        await all; // surfaces a harness bug

        // Quiesce: every one-way send the client saw accepted must be handled (no stop after the last one).
        var quiet = Stopwatch.StartNew();
        while (quiet.Elapsed < TimeSpan.FromSeconds(20) && _accepted.Keys.Any(id => !_handled.ContainsKey(id)) && Volatile.Read(ref _stopsHappened) == 0)
        {
            await Task.Delay(50);
        }

        await StopServerAsync(_server!, final: true);
        await _client!.DisposeAsync();
        await CheckNothingLeftAsync(); // first: a handler that ignored the drain's end may still finish its message
        var reported = Stopwatch.StartNew(); // and one that ended on it is reported just after it returns
        while (_accepted.Keys.Count(id => !_handled.ContainsKey(id)) > Dropped() && reported.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }

        CheckOneWay();
        CheckLog();
        _out($"calls={Calls} restarts={_restarts} clientDisposes={_disposes} sent={_sent.Count} accepted={_accepted.Count} handled={_handled.Count} reportedDropped={Dropped()} problems={_problems.Count}");
        foreach (var (outcome, count) in _outcomes.OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            _out($"  {outcome}: {count}");
        }

        foreach (var problem in _problems.GroupBy(p => p.Length > 160 ? p[..160] : p).Select(g => $"x{g.Count()} {g.First()}").Take(40))
        {
            _out("PROBLEM " + problem);
        }
    }

    private void Problem(string text) => _problems.Enqueue($"[seed {_o.Seed}] {text}");

    private async Task<IHost> StartServerAsync()
    {
        var retrying = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.AddProvider(_log).SetMinimumLevel(LogLevel.Debug);
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
            var ipc = builder.Services.AddIpc();
            _o.Transport(ipc);
            ipc.AddEndpoint(TestIpc.Endpoint, _address, e =>
            {
                e.MaxMessageSize = _o.MaxMessageSize;
                e.DrainTimeout = _o.DrainTimeout;
            });
            ipc.AddServer(TestIpc.Endpoint, MapRoutes);
            var host = builder.Build();
            try
            {
                await host.StartAsync().WaitAsync(TestIpc.Bound);
                return host;
            }
            catch (Exception ex) when (retrying.Elapsed < TestIpc.Bound && ex is IOException or IpcException or SocketException)
            {
                _out($"restart attempt {attempt} failed: {ex.GetType().Name}: {ex.Message}");
                host.Dispose();
                await Task.Delay(20); // the address is free again once the host before has let it go: look again shortly
            }
        }
    }

    private void MapRoutes(IpcServerBuilder server)
    {
        server
            .MapRaw("echo", (m, _, _) => new ValueTask<ReadOnlyMemory<byte>>(m.Body.ToArray()))
            .MapRaw("slow", async (m, _, ct) =>
            {
                Interlocked.Increment(ref _inHandlers);
                try
                {
                    await Task.Delay(BinaryPrimitives.ReadInt32LittleEndian(m.Body.Span), ct);
                    return m.Body.ToArray();
                }
                finally
                {
                    Interlocked.Decrement(ref _inHandlers);
                }
            })
            .MapRaw("deaf", async (m, _, _) =>
            {
                Interlocked.Increment(ref _inHandlers);
                try
                {
                    await Task.Delay(BinaryPrimitives.ReadInt32LittleEndian(m.Body.Span), CancellationToken.None);
                    return m.Body.ToArray();
                }
                finally
                {
                    Interlocked.Decrement(ref _inHandlers);
                }
            })
            .MapRaw("throw", (_, _, _) => throw new InvalidOperationException("stress: thrown on purpose"))
            .MapRequest<StressSum, StressTotal>("sum", s => new StressTotal(s.A + s.B))
            .MapStream<StressStream, int>("count", (s, _, ct) => CountAsync(s, ct))
            .MapMessage<StressNote>("note", async (n, _, ct) =>
            {
                Interlocked.Increment(ref _inHandlers);
                try
                {
                    if (n.DelayMs > 1000)
                    {
                        await Task.Delay(n.DelayMs, CancellationToken.None); // heedless of its token, past a stop's DrainTimeout
                    }
                    else if (n.DelayMs > 0)
                    {
                        await Task.Delay(n.DelayMs, ct);
                    }

                    _handled.AddOrUpdate(n.Id, 1, (_, c) => c + 1);
                }
                finally
                {
                    Interlocked.Decrement(ref _inHandlers);
                }
            });
    }

    private async IAsyncEnumerable<int> CountAsync(StressStream s, [EnumeratorCancellation] CancellationToken ct)
    {
        Interlocked.Increment(ref _inHandlers);
        try
        {
            for (var i = 0; i < s.Count; i++)
            {
                if (s.DelayMs > 0)
                {
                    await Task.Delay(s.DelayMs, s.Deaf ? CancellationToken.None : ct);
                }

                yield return i;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inHandlers);
        }
    }

    private ServiceProvider CreateClient() =>
        TestIpc.CreateClient(_address, ipc =>
        {
            _o.Transport(ipc);
            if (!_o.Resilience)
            {
                ipc.ConfigureResilience(r => r.Enabled = false);
            }
        }, e =>
        {
            e.MaxMessageSize = _o.MaxMessageSize;
            e.ConnectTimeout = TimeSpan.FromSeconds(5);
        });

    private async Task StopServerAsync(IHost host, bool final)
    {
        if (!final)
        {
            Volatile.Write(ref _stopsHappened, 1);
        }

        var watch = Stopwatch.StartNew();
        var stop = host.StopAsync();
        _ = stop.ContinueWith(_ => _out($"stop took {watch.Elapsed}"), TaskScheduler.Default);
        if (await Task.WhenAny(stop, Task.Delay(_o.DrainTimeout + TimeSpan.FromSeconds(40))) != stop)
        {
            Problem($"HANG: the server's StopAsync did not end within {watch.Elapsed} (DrainTimeout {_o.DrainTimeout})");
            return;
        }

        try
        {
            await stop;
        }
        catch (Exception ex)
        {
            Problem($"StopAsync threw {ex}");
        }

        // Kestrel waits for running requests too (the handlers here take well under a second): DrainTimeout plus slack for a loaded machine.
        if (watch.Elapsed > _o.DrainTimeout + TimeSpan.FromSeconds(10))
        {
            Problem($"the server took {watch.Elapsed} to stop, DrainTimeout {_o.DrainTimeout}");
        }

        host.Dispose();
    }

    private async Task ChaosAsync(Random random, DateTime end)
    {
        while (DateTime.UtcNow < end)
        {
            await Task.Delay(random.Next(500, 2500));
            if (DateTime.UtcNow >= end)
            {
                return;
            }

            if (_o.Restarts && random.Next(2) == 0)
            {
                Interlocked.Increment(ref _disturbed);
                var old = _server!;
                await StopServerAsync(old, final: false);
                await Task.Delay(random.Next(0, 300));
                _server = await StartServerAsync();
                Interlocked.Increment(ref _restarts);
                Volatile.Write(ref _calmedAt, Stopwatch.GetTimestamp());
                Interlocked.Increment(ref _calmed);
            }
            else if (_o.ClientDisposes)
            {
                Interlocked.Increment(ref _disturbed);
                var old = _client!;
                _client = CreateClient();
                await Task.Delay(random.Next(0, 20));
                var dispose = old.DisposeAsync().AsTask();
                if (await Task.WhenAny(dispose, Task.Delay(_o.CallBound)) != dispose)
                {
                    Problem("HANG: disposing a client under calls did not end");
                }

                Interlocked.Increment(ref _disposes);
                Volatile.Write(ref _calmedAt, Stopwatch.GetTimestamp());
                Interlocked.Increment(ref _calmed);
            }
        }
    }

    private enum Kind
    {
        Sized,
        Cancelled,
        Deadline,
        DeafDeadline,
        Throw,
        StreamFull,
        StreamAbandon,
        StreamCancel,
        StreamDeadline,
        OneWay,
        Plain,
    }

    private async Task CallerAsync(Random random, int caller, DateTime end, HttpClient? plain)
    {
        var kinds = Enum.GetValues<Kind>().Where(k => k != Kind.Plain || plain is not null).ToArray();
        var n = 0;
        while (DateTime.UtcNow < end)
        {
            var kind = kinds[random.Next(kinds.Length)];
            var key = $"{kind}#{caller}.{n++}";
            var disturbed = Volatile.Read(ref _disturbed);
            var calm = disturbed == Volatile.Read(ref _calmed) && Stopwatch.GetElapsedTime(Volatile.Read(ref _calmedAt)) > TimeSpan.FromSeconds(1);
            var client = _client!;
            _pendingCalls[key] = DateTime.UtcNow;
            var call = Task.Run(() => OneCallAsync(kind, random.Next(), client, plain));
            var done = await Task.WhenAny(call, Task.Delay(_o.CallBound));
            _pendingCalls.TryRemove(key, out _);
            Interlocked.Increment(ref _calls);
            if (done != call)
            {
                Problem($"HANG: a {kind} call did not end within {_o.CallBound}");
                continue;
            }

            var (outcome, bad) = await call;
            var spansChange = !calm || disturbed != Volatile.Read(ref _disturbed) || disturbed != Volatile.Read(ref _calmed);
            _outcomes.AddOrUpdate($"{kind} {outcome}", 1, (_, c) => c + 1);
            if (_o.Resilience && outcome.StartsWith("CircuitOpen", StringComparison.Ordinal))
            {
                bad = null; // timeouts and cancellations count as failures: the breaker opens under this workload, as it should
                await Task.Delay(random.Next(20, 100)); // and a caller backs off rather than spin on calls that fail at once
            }

            if (bad is not null && !(spansChange && outcome.StartsWith("Unavailable", StringComparison.Ordinal)) && !(spansChange && outcome.StartsWith("ObjectDisposed", StringComparison.Ordinal)) && !(spansChange && outcome.StartsWith("Cancelled", StringComparison.Ordinal)))
            {
                Problem($"{kind} call: {bad}");
            }
        }
    }

    /// <summary>Runs one call; returns its outcome's name and, when it was not what the kind of call expects, why.</summary>
    private async Task<(string Outcome, string? Bad)> OneCallAsync(Kind kind, int seed, ServiceProvider services, HttpClient? plain)
    {
        var random = new Random(seed);
        IRequestClient client;
        IChannel channel;
        try
        {
            client = services.Requests();
            channel = services.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint);
        }
        catch (ObjectDisposedException)
        {
            return ("ObjectDisposed (resolve)", "disposed");
        }

        using var cts = new CancellationTokenSource();
        var cancelled = false;
        try
        {
            switch (kind)
            {
                case Kind.Sized:
                {
                    var size = random.Next(4) switch
                    {
                        0 => 0,
                        1 => _o.MaxMessageSize + 1,
                        2 => _o.MaxMessageSize,
                        _ => random.Next(_o.MaxMessageSize),
                    };
                    var body = new byte[size];
                    random.NextBytes(body);
                    var response = await client.RequestAsync(new IpcMessage("echo", body));
                    if (response.Fault is { } fault)
                    {
                        return Classify(fault.ErrorCode, size > _o.MaxMessageSize ? IpcErrorCode.MessageTooLarge : null, fault.Message);
                    }

                    if (size > _o.MaxMessageSize)
                    {
                        return ("OK", $"a body of {size} bytes over MaxMessageSize {_o.MaxMessageSize} was answered");
                    }

                    return response.Body.Span.SequenceEqual(body) ? ("OK", null) : ("WrongBody", $"echo of {size} bytes came back as {response.Body.Length} different bytes");
                }

                case Kind.Cancelled:
                {
                    var delay = random.Next(0, 400);
                    cts.CancelAfter(random.Next(0, 300));
                    cancelled = true;
                    var response = await client.RequestAsync(new IpcMessage(random.Next(2) == 0 ? "slow" : "deaf", Delay(delay)), cts.Token);
                    return response.Fault is { } fault ? Classify(fault.ErrorCode, null, fault.Message) : ("OK", null);
                }

                case Kind.Deadline:
                case Kind.DeafDeadline:
                {
                    var timeout = TimeSpan.FromMilliseconds(random.Next(1, 60));
                    var message = new IpcMessage(kind == Kind.Deadline ? "slow" : "deaf", Delay(random.Next(300, 600))) { Timeout = timeout };
                    var response = await client.RequestAsync(message);
                    return response.Fault is { } fault ? Classify(fault.ErrorCode, IpcErrorCode.Timeout, fault.Message)
                        : kind == Kind.DeafDeadline ? ("OK (late answer of a deaf handler)", null) : ("OK", $"a call of timeout {timeout} to a handler taking 300+ ms succeeded");
                }

                case Kind.Throw:
                {
                    var response = await client.RequestAsync(new IpcMessage("throw", new byte[random.Next(100)]));
                    return response.Fault is { } fault ? Classify(fault.ErrorCode, IpcErrorCode.RemoteError, fault.Message) : ("OK", "a throwing handler answered");
                }

                case Kind.StreamFull:
                case Kind.StreamAbandon:
                case Kind.StreamCancel:
                case Kind.StreamDeadline:
                {
                    var count = random.Next(0, 60);
                    var ask = new StressStream(count, random.Next(3) == 0 ? random.Next(0, 15) : 0, random.Next(2) == 0);
                    var stop = kind == Kind.StreamAbandon ? random.Next(0, count + 1) : int.MaxValue;
                    IpcCallOptions? options = null;
                    if (kind == Kind.StreamCancel)
                    {
                        cts.CancelAfter(random.Next(0, 100));
                        cancelled = true;
                    }
                    else if (kind == Kind.StreamDeadline)
                    {
                        options = new IpcCallOptions { Timeout = TimeSpan.FromMilliseconds(random.Next(1, 80)) };
                    }

                    var expected = 0;
                    await foreach (var item in client.StreamAsync<StressStream, int>("count", ask, options, cts.Token))
                    {
                        if (item != expected)
                        {
                            return ("WrongItem", $"stream item {item} where {expected} was due");
                        }

                        expected++;
                        if (expected >= stop)
                        {
                            break;
                        }
                    }

                    if (kind is Kind.StreamFull or Kind.StreamDeadline && expected != count)
                    {
                        return ("Short", $"stream of {count} ended after {expected} items without an error");
                    }

                    return ("OK", null);
                }

                case Kind.OneWay:
                {
                    var id = Interlocked.Increment(ref _nextId);
                    var note = new StressNote(id, new string('x', random.Next(3) == 0 ? random.Next(_o.MaxMessageSize / 2) : random.Next(64)), random.Next(300) == 0 ? 2500 : random.Next(40) == 0 ? random.Next(200, 500) : random.Next(4) == 0 ? random.Next(1, 10) : 0); // now and then a slow one, so a queue builds and a stop's drain may end with messages left
                    _sent[id] = note.DelayMs;
                    await channel.SendAsync("note", note);
                    _accepted[id] = 0;
                    return ("OK", null);
                }

                case Kind.Plain:
                {
                    var (a, b) = (random.Next(1000), random.Next(1000));
                    using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_port}/stress/sum")
                    {
                        Content = new StringContent($"{{\"a\":{a},\"b\":{b}}}", Encoding.UTF8, "application/json"),
                        Version = _o.PlainHttpVersion == 2 ? HttpVersion.Version20 : HttpVersion.Version11,
                        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    };
                    if (random.Next(4) == 0)
                    {
                        cts.CancelAfter(random.Next(0, 5));
                        cancelled = true;
                    }

                    try
                    {
                        using var response = await plain!.SendAsync(request, cts.Token);
                        var text = await response.Content.ReadAsStringAsync(cts.Token);
                        if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                        {
                            return ("Unavailable (plain 503)", "503: " + text);
                        }

                        return response.IsSuccessStatusCode && text.Contains($"{a + b}", StringComparison.Ordinal)
                            ? ("OK", null)
                            : ($"Plain {(int)response.StatusCode}", $"plain JSON call answered {(int)response.StatusCode}: {text}");
                    }
                    catch (HttpRequestException ex)
                    {
                        return ("Unavailable (plain connection)", "plain: " + ex.Message);
                    }
                }
            }

            throw new InvalidOperationException(kind.ToString());
        }
        catch (OperationCanceledException) when (cancelled && cts.IsCancellationRequested)
        {
            return ("Cancelled", null);
        }
        catch (IpcTimeoutException ex)
        {
            return kind is Kind.Deadline or Kind.DeafDeadline or Kind.StreamDeadline ? ("Timeout", null) : ("Timeout", "IpcTimeoutException: " + ex.Message);
        }
        catch (IpcException ex)
        {
            var expected = kind switch
            {
                Kind.Deadline or Kind.DeafDeadline or Kind.StreamDeadline => IpcErrorCode.Timeout,
                Kind.Sized => IpcErrorCode.MessageTooLarge,
                Kind.OneWay => IpcErrorCode.MessageTooLarge,
                Kind.Throw => IpcErrorCode.RemoteError,
                _ => (IpcErrorCode?)null,
            };
            var (outcome, bad) = Classify(ex.ErrorCode, expected, Describe(ex));
            return (outcome + " (thrown)", bad);
        }
        catch (ObjectDisposedException ex)
        {
            return ("ObjectDisposed", Describe(ex));
        }
        catch (Exception ex)
        {
            return ("LEAK " + ex.GetType().Name, $"unexpected {ex}");
        }
    }

    private static string Describe(Exception ex)
    {
        var text = new StringBuilder();
        for (var e = ex; e is not null; e = e.InnerException)
        {
            text.Append(e.GetType().Name).Append(": ").Append(e.Message).Append(" <- ");
        }

        return text.Append(ex.StackTrace?.Split('\n').FirstOrDefault()?.Trim()).ToString();
    }

    private static (string, string?) Classify(IpcErrorCode code, IpcErrorCode? expected, string message) =>
        code == expected ? (code.ToString(), null) : (code.ToString(), $"{code}: {message}");

    private static byte[] Delay(int ms)
    {
        var body = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(body, ms);
        return body;
    }

    private int Dropped() =>
        _log.Entries.Where(e => e.EventId == 1500 && IsIpc(e)).Sum(e => Convert.ToInt32(e["Count"], System.Globalization.CultureInfo.InvariantCulture))
        + _log.Entries.Count(e => e.EventId is 2 or 20 or 1504 && IsIpc(e));

    private static bool IsIpc(EventLog.Entry e) => e.Category.StartsWith("Ipc", StringComparison.Ordinal);

    private void CheckOneWay()
    {
        foreach (var (id, count) in _handled)
        {
            if (count != 1)
            {
                Problem($"one-way message {id} was handled {count} times");
            }

            if (!_sent.ContainsKey(id))
            {
                Problem($"one-way message {id} was handled but never sent");
            }
        }

        var lost = _accepted.Keys.Where(id => !_handled.ContainsKey(id)).ToList();
        var dropped = Dropped();
        if (lost.Count > dropped)
        {
            Problem($"{lost.Count} one-way messages accepted and not handled, {dropped} reported not delivered (handler delays of the lost: {string.Join(",", lost.Select(id => _sent[id]).GroupBy(d => d > 0 ? d / 100 * 100 : 0).Select(g => $"{g.Key}ms x{g.Count()}"))})");
        }

        if (_restarts == 0 && lost.Count > 0)
        {
            Problem($"no stop happened, yet {lost.Count} accepted one-way messages were not handled");
        }
    }

    private void CheckLog()
    {
        foreach (var entry in _log.Entries.Where(e => e.Level >= LogLevel.Error))
        {
            if (entry.EventId == 1 && IsIpc(entry) && entry.Message.Contains("'throw'", StringComparison.Ordinal))
            {
                continue; // the throwing handler
            }

            if (entry.EventId is 2 or 20 && IsIpc(entry) && _restarts > 0)
            {
                continue; // one-way messages reported not delivered across a stop
            }

            if (entry.Category == "Grpc.AspNetCore.Server.ServerCallHandler" && entry.Exception is IOException { Message: "The client reset the request stream." })
            {
                continue; // Grpc.AspNetCore logs a caller's reset during the request's read at Error (dotnet/aspnetcore#28886), before Ipc's service runs
            }

            if (entry.Category == "Grpc.AspNetCore.Server.ServerCallHandler" && entry.Exception is InvalidOperationException { Message: "Can't write the message because the request is complete." } && !_o.StrictGrpcWrites)
            {
                continue; // seen rarely: a stream item written as its call ends (deadline, reset); not yet reproduced alone, so only a strict run fails on it
            }

            Problem($"server logged {entry.Level} {entry.Category} #{entry.EventId}: {entry.Message} {entry.Exception}");
        }
    }

    private async Task CheckNothingLeftAsync()
    {
        var watch = Stopwatch.StartNew();
        while (Volatile.Read(ref _inHandlers) > 0 && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        if (Volatile.Read(ref _inHandlers) > 0)
        {
            Problem($"{_inHandlers} handlers still running 10 s after the server stopped");
        }

        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _port));
            Problem($"port {_port} still accepts connections after the server stopped");
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
        }

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, _port));
        }
        catch (SocketException ex)
        {
            Problem($"port {_port} cannot be bound after the server stopped: {ex.SocketErrorCode}");
        }
    }
}
