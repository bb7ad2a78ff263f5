using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ipc.Amqp.Tests;

/// <summary>Servers and clients of one AMQP endpoint, each with services of its own, as in separate processes.</summary>
internal sealed class AmqpTestHost : IAsyncDisposable
{
    public const string Endpoint = "orders";

    private readonly List<IAsyncDisposable> _resources = [];

    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>Starts a server of <see cref="Endpoint"/> on <paramref name="address"/>; <paramref name="services"/> adds to its services first (a clock, for one).</summary>
    public async Task<IHost> StartServerAsync(string address, Action<IpcServerBuilder> map, Action<AmqpTransportOptions>? amqp = null, ILoggerProvider? logs = null, Action<IServiceCollection>? services = null)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        services?.Invoke(builder.Services);

        builder.Services.AddIpc()
            .AddAmqp(options =>
            {
                AmqpTestAddresses.Configure(options);
                amqp?.Invoke(options);
            })
            .AddEndpoint(Endpoint, address)
            .AddServer(Endpoint, map);
        var host = builder.Build();
        _resources.Add(new HostResource(host));
        await host.StartAsync().WaitAsync(Bound);
        return host;
    }

    /// <summary>Creates a client of <see cref="Endpoint"/> on <paramref name="address"/>; retries are off unless <paramref name="resilience"/> turns them on.</summary>
    public IChannel CreateClient(string address, Action<AmqpTransportOptions>? amqp = null, Action<IpcResilienceOptions>? resilience = null) =>
        CreateClientServices(address, amqp, resilience).GetRequiredService<IIpcClientFactory>().GetChannel(Endpoint);

    /// <summary>Creates the services of a client of <see cref="Endpoint"/> on <paramref name="address"/>; <paramref name="configure"/> adds to them first (a clock, for one).</summary>
    public ServiceProvider CreateClientServices(string address, Action<AmqpTransportOptions>? amqp = null, Action<IpcResilienceOptions>? resilience = null, ILoggerProvider? logs = null, Action<IServiceCollection>? configure = null)
    {
        var services = new ServiceCollection();
        if (logs is not null)
        {
            services.AddLogging(logging => logging.AddProvider(logs));
        }

        configure?.Invoke(services);

        services.AddIpc()
            .AddAmqp(options =>
            {
                AmqpTestAddresses.Configure(options);
                amqp?.Invoke(options);
            })
            .AddEndpoint(Endpoint, address)
            .ConfigureResilience(Endpoint, r =>
            {
                r.Retry.MaxRetryAttempts = 0;
                resilience?.Invoke(r);
            });
        var provider = services.BuildServiceProvider(validateScopes: true);
        _resources.Add(provider);
        return provider;
    }

    /// <summary>Resilience that rides out a broker restart or a node failure: many quick retries, no circuit breaker.</summary>
    public static void RideOutFailover(IpcResilienceOptions r)
    {
        r.TotalTimeout = TimeSpan.FromMinutes(3);
        r.AttemptTimeout = TimeSpan.FromSeconds(20);
        r.Retry.MaxRetryAttempts = 1000;
        r.Retry.Delay = TimeSpan.FromMilliseconds(200);
        r.Retry.BackoffType = Polly.DelayBackoffType.Constant;
        r.Retry.UseJitter = false;
        r.CircuitBreaker.MinimumThroughput = int.MaxValue;
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _resources.Count - 1; i >= 0; i--)
        {
            await _resources[i].DisposeAsync().AsTask().WaitAsync(Bound);
        }
    }

    private sealed class HostResource(IHost host) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await host.StopAsync();
            host.Dispose();
        }
    }
}
