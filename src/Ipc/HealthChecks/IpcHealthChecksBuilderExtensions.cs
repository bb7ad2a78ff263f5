using Ipc;
using Ipc.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds health checks of Ipc endpoints to an <see cref="IHealthChecksBuilder"/>.</summary>
public static class IpcHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds one check per Ipc endpoint: <c>ipc-server:{name}</c> for an endpoint this app serves (<c>AddServer</c>), Healthy
    /// while it listens; <c>ipc:{name}</c> for every other endpoint, Unhealthy while its circuit breaker is open or it
    /// cannot connect, Degraded while the breaker is half-open. No check calls a handler.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="tags">Tags given to every check (to filter them in a health endpoint), if any.</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddIpc(this IHealthChecksBuilder builder, params string[] tags)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(tags);
        var copy = tags.ToArray();
        builder.Services.AddSingleton<IConfigureOptions<HealthCheckServiceOptions>>(sp => new IpcHealthCheckRegistrations(
            sp.GetRequiredService<IOptions<IpcOptions>>(),
            sp.GetServices<Ipc.Server.IpcServerDefinition>(),
            copy));
        return builder;
    }
}
