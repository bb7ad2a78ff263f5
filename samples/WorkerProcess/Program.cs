// The parent starts this same program with --worker and calls its handlers over a pair of anonymous pipes.
using Ipc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

if (args is ["--worker"])
{
    #region worker
    // In the worker: serve the handlers to the parent that started this process. The host stops when the parent
    // closes the pipes or exits, so a worker never outlives its parent.
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
    builder.Services.AddIpc().AddWorkerServer("calculator", server => server
        .MapRequest<Add, Sum>("add", add => new Sum(add.A + add.B))
        .MapRequest<string, int>("pid", _ => Environment.ProcessId));
    await builder.Build().RunAsync();
    #endregion
    return 0;
}

#region parent
// In the parent: the first call starts the worker (this program again, with --worker); if it dies, the next call
// starts a new one. Disposing the services closes the pipes, and the worker exits.
var services = new ServiceCollection();
services.AddIpc().AddWorkerProcess("calculator", worker =>
{
    var host = Environment.ProcessPath!;
    worker.FileName = host;
    if (Path.GetFileNameWithoutExtension(host) == "dotnet")
    {
        worker.Arguments.Add(typeof(Add).Assembly.Location); // started as 'dotnet WorkerProcess.dll'
    }

    worker.Arguments.Add("--worker");
});

await using (var provider = services.BuildServiceProvider())
{
    var calculator = provider.GetRequiredKeyedService<IRequestClient>("calculator");
    var sum = await calculator.RequestAsync<Add, Sum>("add", new Add(40, 2));
    var worker = await calculator.RequestAsync<string, int>("pid", "");
    Console.WriteLine($"40 + 2 = {sum.Value}, computed by worker process {worker} for parent {Environment.ProcessId}");
}
#endregion

return 0;

public sealed record Add(int A, int B);

public sealed record Sum(int Value);
