using Ipc;
using Ipc.Resilience;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures the resilience of Ipc endpoints in code.</summary>
public static class IpcResilienceBuilderExtensions
{
    /// <summary>
    /// Changes the resilience options of every endpoint (as <c>Ipc:Resilience</c> does in configuration). Runs after the
    /// configuration's <c>Ipc:Resilience</c> and before any endpoint's own settings, which win key by key.
    /// </summary>
    /// <example><c>ipc.ConfigureResilience(r => r.Retry.MaxRetryAttempts = 5);</c></example>
    public static IIpcBuilder ConfigureResilience(this IIpcBuilder builder, Action<IpcResilienceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new ResilienceSetup(ResilienceStage.GlobalCode, null, (_, options) => configure(options)));
        return builder;
    }

    /// <summary>
    /// Changes the resilience options of the endpoint <paramref name="endpointName"/> (as
    /// <c>Ipc:Endpoints:&lt;name&gt;:Resilience</c> does in configuration). Runs last, so it wins over every other setting.
    /// </summary>
    /// <example><c>ipc.ConfigureResilience("calculator", r => r.AttemptTimeout = TimeSpan.FromSeconds(1));</c></example>
    public static IIpcBuilder ConfigureResilience(this IIpcBuilder builder, string endpointName, Action<IpcResilienceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(endpointName);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddSingleton(new ResilienceSetup(ResilienceStage.EndpointCode, endpointName, (_, options) => configure(options)));
        return builder;
    }
}
