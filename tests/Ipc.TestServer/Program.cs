// A conformance server in a process of its own, for tests that call across processes.
//   dotnet Ipc.TestServer.dll <address>   serves the conformance routes on <address>; prints "ready" once listening
//   dotnet Ipc.TestServer.dll worker      serves them to the parent that started it, over anonymous pipes
//   dotnet Ipc.TestServer.dll hold-lock <file>   holds a shared advisory lock on <file>; prints "ready" once it does
// It stops when its standard input closes (the test ended) or, as a worker, when the parent closes the pipes (a worker
// with IPC_TEST_WORKER_HANG_ON_STOP=1 hangs instead, for its parent to kill).
using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

if (args is ["grandchild"])
{
    // Started by a worker ("$spawn"): does nothing until it is killed, holding whatever it inherited.
    await Task.Delay(Timeout.Infinite);
}

if (args is ["hold-lock", var locked])
{
    // A process other than the test's that keeps a file open, and so locked: on Unix the runtime takes a shared flock on a
    // file opened with FileShare.ReadWrite (unless DOTNET_SYSTEM_IO_DISABLEFILELOCKING=1), and the kernel lets it go when
    // the process ends, however it ends.
    using var held = new FileStream(locked, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
    Console.WriteLine("ready");
    Console.In.ReadToEnd();
    return;
}

var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
var ipc = builder.Services.AddIpc();
var probe = new ConformanceProbe();
if (args is ["worker"])
{
    // Besides the conformance routes, what the parent set up for its worker: "." is the working directory, "$pid" the
    // worker's process id, "$spawn" starts a child process of the worker's own and returns its id, any other name an
    // environment variable.
    ipc.AddWorkerServer("conformance", server => server
        .MapConformanceRoutes(probe)
        .MapRequest<string, string>("worker-setting", name => name switch
        {
            "." => Environment.CurrentDirectory,
            "$pid" => Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "$spawn" => SpawnGrandchild(),
            _ => Environment.GetEnvironmentVariable(name) ?? "(unset)",
        }));
}
else
{
    ipc.AddEndpoint("conformance", args[0]);
    ipc.AddServer("conformance", server => server.MapConformanceRoutes(probe));
}

using var host = builder.Build();
await host.StartAsync();
Console.WriteLine("ready");
var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
if (args is ["worker"] && Environment.GetEnvironmentVariable("IPC_TEST_WORKER_HANG_ON_STOP") == "1")
{
    // A worker stuck in its shutdown (a native library that never returns, say): it never exits by itself.
    lifetime.ApplicationStopping.Register(() => new ManualResetEventSlim().Wait());
}

if (args is not ["worker"])
{
    _ = Task.Run(() =>
    {
        Console.In.ReadToEnd();
        lifetime.StopApplication();
    });
}

await host.WaitForShutdownAsync();

static string SpawnGrandchild()
{
    var start = new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
    start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ipc.TestServer.dll"));
    start.ArgumentList.Add("grandchild");
    using var child = System.Diagnostics.Process.Start(start)!;
    return child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
