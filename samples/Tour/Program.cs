using System.Diagnostics;
using Ipc;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Tour;

if (args is ["--serve", var serveAddress])
{
    return await TourServer.ServeAsync(serveAddress);
}

const int Warmup = 200;
var warmupTime = TimeSpan.FromSeconds(2);
const int Requests = 2_000;
const int Notes = 20_000;
const int NotesPerBatch = 100;
var run = $"{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
var results = new List<string[]>();
var failed = false;

foreach (var row in TourRows.All(run))
{
    if (row.Precondition is not null && await row.Precondition() is { } why)
    {
        results.Add([row.Transport, row.Address, "-", "-", "-", "-", "skipped: " + why]);
        continue;
    }

    try
    {
        await using var server = await StartServerAsync(row);
        await using var services = BuildClient(row.Address);
        var client = services.GetRequiredKeyedService<IRequestClient>("tour");
        var channel = services.GetRequiredKeyedService<IChannel>("tour");

        // Request/response: warm up (long enough for the runtime to compile the hot paths fully, in both processes), then
        // time each round trip.
        var warmupStarted = Stopwatch.GetTimestamp();
        for (var i = 0; i < Warmup || Stopwatch.GetElapsedTime(warmupStarted) < warmupTime; i++)
        {
            await client.RequestAsync<Add, int>(TourRoutes.Add, new Add(i, 1));
        }

        var samples = new double[Requests];
        for (var i = 0; i < Requests; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var sum = await client.RequestAsync<Add, int>(TourRoutes.Add, new Add(i, 1));
            samples[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            if (sum != i + 1)
            {
                throw new InvalidOperationException($"add({i}, 1) returned {sum}");
            }
        }

        Array.Sort(samples);

        // One-way: send, then ask the server how many it handled until all arrived.
        var sendStarted = Stopwatch.GetTimestamp();
        for (var i = 0; i < Notes; i++)
        {
            await channel.SendAsync(TourRoutes.Note, new Note(i, "tour"));
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await client.RequestAsync<int, int>(TourRoutes.NoteCount, 0, cancellationToken: deadline.Token) < Notes)
        {
            await Task.Yield();
        }

        var perSecond = Notes / Stopwatch.GetElapsedTime(sendStarted).TotalSeconds;

        // The same number again, 100 per SendBatchAsync call: one run of the resilience pipeline per batch.
        var batchStarted = Stopwatch.GetTimestamp();
        for (var i = 0; i < Notes; i += NotesPerBatch)
        {
            await channel.SendBatchAsync(TourRoutes.Note, Enumerable.Range(i, NotesPerBatch).Select(n => new Note(n, "tour")));
        }

        while (await client.RequestAsync<int, int>(TourRoutes.NoteCount, 0, cancellationToken: deadline.Token) < 2 * Notes)
        {
            await Task.Yield();
        }

        var batchedPerSecond = Notes / Stopwatch.GetElapsedTime(batchStarted).TotalSeconds;
        results.Add([row.Transport, row.Address, Format(samples[Requests / 2]), Format(samples[Requests * 99 / 100]), perSecond.ToString("N0"), batchedPerSecond.ToString("N0"), "ok"]);
    }
    catch (Exception ex)
    {
        failed = true;
        results.Add([row.Transport, row.Address, "-", "-", "-", "-", "failed: " + ex.Message]);
    }
}

PrintTable(["transport", "address", "p50 (us)", "p99 (us)", "one-way msg/s", "batched msg/s", "status"], results);
return failed ? 1 : 0;

static ServiceProvider BuildClient(string address)
{
    var configuration = new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?> { ["Ipc:Endpoints:tour:Address"] = address })
        .AddInMemoryCollection(TourRows.AmqpLogin())
        .Build();
    var services = new ServiceCollection();
    services.AddIpc(configuration);
    return services.BuildServiceProvider();
}

static async Task<IAsyncDisposable> StartServerAsync(TourRow row)
{
    if (row.Placement == ServerPlacement.InProcess)
    {
        var host = TourServer.Build(row.Address);
        await host.StartAsync();
        return new HostLease(host);
    }

    return await ServerProcess.StartAsync(row.Address);
}

static string Format(double microseconds) => microseconds.ToString("N1");

static void PrintTable(string[] header, List<string[]> rows)
{
    var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
    string Line(string[] cells) => "| " + string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))) + " |";
    Console.WriteLine(Line(header));
    Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
    foreach (var row in rows)
    {
        Console.WriteLine(Line(row));
    }
}

/// <summary>Stops an in-process server host.</summary>
internal sealed class HostLease(Microsoft.Extensions.Hosting.IHost host) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }
}
