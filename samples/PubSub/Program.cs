using System.Diagnostics;
using Ipc;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// Started as "--service <name>": one subscribing service, in a process of its own, with the shop's configuration
// overrides (the arguments after the name).
if (args is ["--service", var service, .. var overrides])
{
    return await RunServiceAsync(service, overrides);
}

// Otherwise: the shop. It starts billing and shipping in processes of their own, publishes orders, and each service
// prints every order once.
var configuration = Configuration(args);
var services = new ServiceCollection();
services.AddIpc(configuration);
await using var provider = services.BuildServiceProvider();
var shop = provider.GetRequiredKeyedService<IChannel>("shop");

var wait = TimeSpan.FromSeconds(configuration.GetValue("Sample:WaitSeconds", 30.0)); // how long the shop waits for a service
var subscribers = new[] { StartService("billing", args, wait), StartService("shipping", args, wait) };
try
{
    foreach (var subscriber in subscribers)
    {
        await subscriber.WaitUntilReadyAsync();
    }

    #region publish
    for (var id = 1; id <= 3; id++)
    {
        await shop.PublishAsync("order-placed", new OrderPlaced(id, 10m * id));
        Console.WriteLine($"shop: published order {id}");
    }
    #endregion

    foreach (var subscriber in subscribers)
    {
        await subscriber.WaitForLinesAsync(3);
    }

    return 0;
}
catch (Exception ex) when (ex is TimeoutException or IpcException { ErrorCode: IpcErrorCode.Unavailable or IpcErrorCode.Unauthorized })
{
    Console.Error.WriteLine($"{ex.Message}\n{BrokerHint}");
    return 1;
}
finally
{
    foreach (var subscriber in subscribers)
    {
        await subscriber.DisposeAsync();
    }
}

static async Task<int> RunServiceAsync(string service, string[] args)
{
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory, DisableDefaults = true });
    builder.Configuration.AddConfiguration(Configuration(args));

    #region subscribe
    // Every service gets each published order once; instances of one service (same WithServiceName) share them.
    builder.Services.AddIpc(builder.Configuration)
        .AddServer("shop", server => server
            .WithServiceName(service)
            .MapSubscription<OrderPlaced>("order-placed", (order, context, cancellationToken) =>
            {
                Console.WriteLine($"{service}: order {order.Id} for {order.Total:0.00}");
                return ValueTask.CompletedTask;
            }));
    #endregion

    using var host = builder.Build();
    using var stopped = new CancellationTokenSource();
    var input = Task.Run(async () =>
    {
        await Console.In.ReadToEndAsync(); // the shop closes our input to stop us, even before we are ready
        await stopped.CancelAsync();
    });
    try
    {
        await host.StartAsync(stopped.Token);
    }
    catch (IpcException ex) when (ex.ErrorCode is IpcErrorCode.Unavailable or IpcErrorCode.Unauthorized)
    {
        Console.Error.WriteLine($"{service}: {ex.Message}");
        return 1;
    }
    catch (OperationCanceledException) when (stopped.IsCancellationRequested)
    {
        return 1; // stopped before it subscribed
    }

    Console.WriteLine("ready");
    await input;
    await host.StopAsync();
    return 0;
}

static IConfiguration Configuration(string[] args) => new ConfigurationBuilder()
    .SetBasePath(AppContext.BaseDirectory)
    .AddJsonFile("appsettings.json")
    .AddEnvironmentVariables()
    .AddCommandLine(args)
    .Build();

static ServiceProcess StartService(string service, string[] overrides, TimeSpan wait)
{
    var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
    {
        start.ArgumentList.Add(typeof(OrderPlaced).Assembly.Location);
    }

    start.ArgumentList.Add("--service");
    start.ArgumentList.Add(service);
    foreach (var argument in overrides)
    {
        start.ArgumentList.Add(argument);
    }

    return new ServiceProcess(service, Process.Start(start)!, wait);
}

/// <summary>What the shop says when it or a service cannot reach the broker.</summary>
internal partial class Program
{
    private const string BrokerHint =
        "Start RabbitMQ on this machine (apt-get install rabbitmq-server, or docker run -p 5672:5672 rabbitmq:3), or point the sample at your broker: "
        + "--Ipc:Endpoints:shop:Address=amqp://user:password@host:5672/ on the command line, or the environment variable Ipc__Endpoints__shop__Address.";
}

/// <summary>The message the shop publishes.</summary>
public sealed record OrderPlaced(int Id, decimal Total);

/// <summary>A subscribing service in a process of its own; its output is echoed.</summary>
internal sealed class ServiceProcess(string name, Process process, TimeSpan wait) : IAsyncDisposable
{
    public async Task WaitUntilReadyAsync()
    {
        var line = await ReadLineAsync("had not said it was ready (subscribed at the broker)");
        if (line != "ready")
        {
            throw new IpcException(IpcErrorCode.Unavailable, $"The {name} service did not start: {line ?? "it exited"}.");
        }
    }

    public async Task WaitForLinesAsync(int count)
    {
        for (var i = 1; i <= count; i++)
        {
            Console.WriteLine(await ReadLineAsync($"had printed {i - 1} of the {count} orders"));
        }
    }

    private async Task<string?> ReadLineAsync(string missing)
    {
        try
        {
            return await process.StandardOutput.ReadLineAsync().WaitAsync(wait);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Gave up after {wait.TotalSeconds:0.#} s: the {name} service {missing}. Is the broker running, and is the address right?");
        }
    }

    public async ValueTask DisposeAsync()
    {
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            process.Kill();
        }

        await process.WaitForExitAsync();
        process.Dispose();
    }
}
