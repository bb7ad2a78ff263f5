// The client starts this same program with --server <address> as a second process, calls it over a Unix domain socket
// and prints both processes' spans with OpenTelemetry's console exporter: the server's span continues the client's trace.
using System.Diagnostics;
using Ipc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

if (args is ["--server", var serverAddress])
{
    #region server
    // The server process: its spans go to its console, which the client shows with a [server] prefix.
    using var serverTracing = Sdk.CreateTracerProviderBuilder()
        .ConfigureResource(r => r.AddService("observability-server"))
        .AddIpcInstrumentation()
        .AddConsoleExporter()
        .Build();
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
    builder.Services.AddIpc().AddEndpoint("greeter", serverAddress).AddServer("greeter", server => server
        .MapRequest<string, string>("greet", name => $"Hello, {name}!"));
    builder.Services.AddHealthChecks().AddIpc(); // ipc-server:greeter: Healthy while it listens
    using var host = builder.Build();
    await host.StartAsync();
    var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
    Console.WriteLine($"health: {health.Status} ({string.Join(", ", health.Entries.Select(e => $"{e.Key}: {e.Value.Description}"))})");
    Console.WriteLine("listening");
    await Console.In.ReadToEndAsync(); // until the client closes this process's input
    await host.StopAsync();
    #endregion
    return 0;
}

var address = $"unix://{Path.Combine(Path.GetTempPath(), $"ipc-observability-{Environment.ProcessId}.sock")}";
using var server = StartServer(address);
var serverLines = new List<string>();
var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
server.OutputDataReceived += (_, e) =>
{
    if (e.Data is null)
    {
        return;
    }

    lock (serverLines)
    {
        serverLines.Add(e.Data);
    }

    Console.WriteLine($"[server] {e.Data}");
    if (e.Data == "listening")
    {
        listening.TrySetResult();
    }
};
server.BeginOutputReadLine();
await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));

// The client process: its spans and, when it exits, its metrics go to its console.
#region providers
using var tracing = Sdk.CreateTracerProviderBuilder()
    .ConfigureResource(r => r.AddService("observability-client"))
    .AddSource("Observability")
    .AddIpcInstrumentation()
    .AddConsoleExporter()
    .Build();
using var metrics = Sdk.CreateMeterProviderBuilder()
    .ConfigureResource(r => r.AddService("observability-client"))
    .AddIpcInstrumentation()
    .AddConsoleExporter()
    .Build();
#endregion

#region client
var services = new ServiceCollection();
services.AddLogging();
services.AddIpc().AddEndpoint("greeter", address);
services.AddHealthChecks().AddIpc(); // ipc:greeter: its circuit breaker, and whether it can connect (no handler runs)
await using var provider = services.BuildServiceProvider();
var greeter = provider.GetRequiredKeyedService<IRequestClient>("greeter");

using var source = new ActivitySource("Observability");
string greeting;
ActivityTraceId traceId;
using (var operation = source.StartActivity("greet the world"))
{
    traceId = operation!.TraceId;
    greeting = await greeter.RequestAsync<string, string>("greet", "world");
}

var clientHealth = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
Console.WriteLine($"health: {clientHealth.Status} ({string.Join(", ", clientHealth.Entries.Select(e => $"{e.Key}: {e.Value.Description}"))})");
#endregion

server.StandardInput.Close(); // the server stops and exits
await server.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
metrics.Dispose(); // exports the client's metrics now, before the summary

var serverTraceIds = serverLines.Where(l => l.StartsWith("Activity.TraceId:", StringComparison.Ordinal)).Select(l => l.Split(':')[1].Trim()).ToList();
Console.WriteLine();
Console.WriteLine($"{greeting} The client's trace is {traceId}; the server (process {server.Id}) recorded spans of trace(s) {string.Join(", ", serverTraceIds)}.");
if (!serverTraceIds.Contains(traceId.ToHexString()))
{
    Console.WriteLine("The server's span is not in the client's trace.");
    return 1;
}

Console.WriteLine("One trace crosses both processes.");
return 0;

static Process StartServer(string address)
{
    var self = Environment.ProcessPath!;
    var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
    if (Path.GetFileNameWithoutExtension(self) == "dotnet")
    {
        start.ArgumentList.Add(typeof(Program).Assembly.Location); // started as 'dotnet Observability.dll'
    }

    start.ArgumentList.Add("--server");
    start.ArgumentList.Add(address);
    return Process.Start(start)!;
}
