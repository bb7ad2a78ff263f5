// A conformance server in a process of its own, for tests that call across processes.
//   dotnet Ipc.TestServer.dll <address>   serves the conformance routes on <address>; prints "ready" once listening
//   dotnet Ipc.TestServer.dll worker      serves them to the parent that started it, over anonymous pipes
// It stops when its standard input closes (the test ended) or, as a worker, when the parent closes the pipes.
using Ipc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
var ipc = builder.Services.AddIpc();
var probe = new ConformanceProbe();
if (args is ["worker"])
{
    // Besides the conformance routes, what the parent set up for its worker: "." is the working directory, any other name
    // an environment variable.
    ipc.AddWorkerServer("conformance", server => server
        .MapConformanceRoutes(probe)
        .MapRequest<string, string>("worker-setting", name => name == "." ? Environment.CurrentDirectory : Environment.GetEnvironmentVariable(name) ?? "(unset)"));
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
if (args is not ["worker"])
{
    _ = Task.Run(() =>
    {
        Console.In.ReadToEnd();
        lifetime.StopApplication();
    });
}

await host.WaitForShutdownAsync();
