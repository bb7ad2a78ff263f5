using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Ipc;
using Ipc.Client;
using Ipc.InMemory;
using Ipc.Resilience;
using Ipc.Serialization;
using Ipc.Server;
using Ipc.Transports;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly.Telemetry;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds Ipc to an <see cref="IServiceCollection"/>.</summary>
public static class IpcServiceCollectionExtensions
{
    /// <summary>The configuration section <c>AddIpc(IConfiguration)</c> reads when given the configuration root.</summary>
    public const string DefaultSectionName = "Ipc";

    /// <summary>Adds the Ipc runtime with endpoints configured in code.</summary>
    public static IIpcBuilder AddIpc(this IServiceCollection services) => AddIpcCore(services, section: null);

    /// <summary>Adds the Ipc runtime and configures its options in code.</summary>
    public static IIpcBuilder AddIpc(this IServiceCollection services, Action<IpcOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddIpcCore(services, section: null);
        services.Configure(configure);
        return builder;
    }

    /// <summary>
    /// Adds the Ipc runtime with options bound from configuration: pass the configuration root (the <c>Ipc</c> section
    /// is read) or the section itself.
    /// </summary>
    public static IIpcBuilder AddIpc(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration as IConfigurationSection ?? configuration.GetSection(DefaultSectionName);
        var builder = AddIpcCore(services, section);
        services.AddOptions<IpcOptions>().Bind(section);
        return builder;
    }

    private static IpcBuilder AddIpcCore(IServiceCollection services, IConfigurationSection? section)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = new IpcBuilder(services, section);

        services.AddOptions<IpcOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IpcOptions>, IpcOptionsValidator>());
        services.AddSingleton(new IpcConfigurationPath(section?.Path ?? DefaultSectionName, section));
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics(); // meters through IMeterFactory, so each container (an app, a test) collects its own
        services.TryAddSingleton(static sp => new IpcMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<TransportRegistry>();
        services.TryAddSingleton<SerializerRegistry>();
        services.TryAddSingleton<EndpointRegistry>();
        services.TryAddSingleton<IIpcClientFactory, IpcClientFactory>();
        AddResilience(services, section);
        services.TryAddKeyedSingleton<IRequestClient>(KeyedService.AnyKey, static (sp, key) =>
            sp.GetRequiredService<IIpcClientFactory>().GetRequestClient(EndpointKey(key)));
        services.TryAddKeyedSingleton<IChannel>(KeyedService.AnyKey, static (sp, key) =>
            sp.GetRequiredService<IIpcClientFactory>().GetChannel(EndpointKey(key)));

        services.TryAddKeyedSingleton<IIpcSerializer>(IpcOptions.MessagePackSerializer, (_, _) => new MessagePackIpcSerializer());
        services.TryAddKeyedSingleton<IIpcSerializer>(IpcOptions.JsonSerializer, (_, _) => new SystemTextJsonIpcSerializer());
        services.TryAddSingleton<IpcServerProvider>();
        services.TryAddSingleton<IIpcServerProvider>(static sp => sp.GetRequiredService<IpcServerProvider>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, IpcServerHostedService>());

        builder.AddTransport<InMemoryTransport>();
        foreach (var registration in TransportDiscovery.Registrations)
        {
            ((IIpcTransportRegistration)Activator.CreateInstance(registration)!).Register(builder);
        }

        return builder;
    }

    private static void AddResilience(IServiceCollection services, IConfigurationSection? section)
    {
        services.TryAddSingleton<ResilienceSettings>();
        services.TryAddSingleton<ResilienceValidator>();
        services.TryAddSingleton<ResilienceProvider>();
        if (section is not null)
        {
            foreach (var setup in ResilienceSettings.FromConfiguration(section))
            {
                services.AddSingleton(setup);
            }
        }

        // Polly's telemetry (logs, and metrics on the "Polly" meter) goes to the app's logger factory, as with AddResiliencePipeline.
        services.AddOptions<TelemetryOptions>().Configure<IServiceProvider>(static (telemetry, provider) =>
        {
            if (telemetry.LoggerFactory is NullLoggerFactory && provider.GetService<ILoggerFactory>() is { } loggers)
            {
                telemetry.LoggerFactory = loggers;
            }
        });
    }

    private static string EndpointKey(object? key) =>
        key as string ?? throw new InvalidOperationException($"Ipc clients are keyed by endpoint name (a string), not by {key?.GetType().Name ?? "null"}.");
}
