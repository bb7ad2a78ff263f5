using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Tests;

public sealed record Add(int A, int B);

internal static class TestSupport
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    public static string NewAddress(string name = "test") => $"inmemory://{name}-{Guid.NewGuid():N}";

    public static IConfiguration Json(string json) =>
        new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build();

    public static async Task<IHost> StartServerAsync(Action<IIpcBuilder> configure, Action<IServiceCollection>? services = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        services?.Invoke(builder.Services);
        configure(builder.Services.AddIpc());
        var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        return host;
    }

    public static ServiceProvider Client(string endpoint, string address, Action<IpcEndpointOptions>? configure = null, Action<IIpcBuilder>? ipc = null)
    {
        var services = new ServiceCollection();
        var builder = services.AddIpc().AddEndpoint(endpoint, address, configure);
        ipc?.Invoke(builder);
        return services.BuildServiceProvider();
    }
}
