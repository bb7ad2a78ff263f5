using Ipc.Server;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;

namespace Ipc.HealthChecks;

/// <summary>
/// The health of a client endpoint: Unhealthy while its circuit breaker is open (or isolated) or it cannot connect,
/// Degraded while the breaker is half-open (a probe call is deciding), Healthy otherwise. Whether it can connect is asked
/// of the transport (<see cref="IIpcTransportProbe"/>) where the transport can tell, so no handler is called.
/// </summary>
internal sealed class IpcClientHealthCheck(IIpcClientFactory clients, string endpoint, string address) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration.FailureStatus;
        var channel = clients.GetChannel(endpoint);
        var state = (channel.GetService(typeof(CircuitBreakerStateProvider)) as CircuitBreakerStateProvider)?.CircuitState;
        var data = new Dictionary<string, object>
        {
            ["endpoint"] = endpoint,
            ["address"] = address,
            ["circuit"] = state?.ToString() ?? "none",
        };
        switch (state)
        {
            case CircuitState.Open or CircuitState.Isolated:
                return new HealthCheckResult(failure, $"The circuit breaker of Ipc endpoint '{endpoint}' ({address}) is {state}: calls fail at once.", data: data);
            case CircuitState.HalfOpen:
                return HealthCheckResult.Degraded($"The circuit breaker of Ipc endpoint '{endpoint}' ({address}) is half-open: a call is probing whether the endpoint is back.", data: data);
        }

        if (channel.GetService(typeof(IIpcTransportProbe)) is not IIpcTransportProbe probe)
        {
            data["probed"] = false;
            return HealthCheckResult.Healthy($"The circuit breaker of Ipc endpoint '{endpoint}' ({address}) is closed; its transport cannot be probed without a call.", data);
        }

        data["probed"] = true;
        try
        {
            await probe.ProbeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IpcException or IpcTimeoutException or TimeoutException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new HealthCheckResult(failure, $"Ipc endpoint '{endpoint}' ({address}) cannot be reached: {ex.Message}", ex, data);
        }

        return HealthCheckResult.Healthy($"Ipc endpoint '{endpoint}' ({address}) is reachable.", data);
    }
}

/// <summary>The health of a server endpoint: Healthy while its transport listens (or its host serves it), Unhealthy otherwise.</summary>
internal sealed class IpcServerHealthCheck(IpcServerProvider servers, string endpoint, string address) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var server = servers.Servers.First(s => string.Equals(s.EndpointName, endpoint, StringComparison.OrdinalIgnoreCase));
        var data = new Dictionary<string, object> { ["endpoint"] = endpoint, ["address"] = address };
        return Task.FromResult(
            server.IsHostedExternally ? HealthCheckResult.Healthy($"Ipc endpoint '{endpoint}' is served by its host.", data)
            : server.IsListening ? HealthCheckResult.Healthy($"Ipc endpoint '{endpoint}' listens on {address}.", data)
            : new HealthCheckResult(context.Registration.FailureStatus, $"Ipc endpoint '{endpoint}' does not listen on {address}: its host has not started it, or stopped it.", data: data));
    }
}

/// <summary>Adds one check per Ipc endpoint when the health check service's options are built, once the endpoints are known.</summary>
internal sealed class IpcHealthCheckRegistrations(
    IOptions<IpcOptions> options,
    IEnumerable<IpcServerDefinition> servers,
    IReadOnlyList<string> tags) : IConfigureOptions<HealthCheckServiceOptions>
{
    public void Configure(HealthCheckServiceOptions health)
    {
        var served = new HashSet<string>(servers.Select(s => s.EndpointName), StringComparer.OrdinalIgnoreCase);
        foreach (var (name, endpoint) in options.Value.Endpoints.OrderBy(e => e.Key, StringComparer.OrdinalIgnoreCase))
        {
            if (endpoint.Address is null || !Uri.TryCreate(endpoint.Address, UriKind.Absolute, out var address))
            {
                continue; // IpcOptions validation reports it at start
            }

            var endpointName = name;
            var shown = AddressText.Redact(address); // health reports are often public: never a password
            health.Registrations.Add(served.Contains(name)
                ? new HealthCheckRegistration($"ipc-server:{name}", sp => new IpcServerHealthCheck(sp.GetRequiredService<IpcServerProvider>(), endpointName, shown), failureStatus: null, tags)
                : new HealthCheckRegistration($"ipc:{name}", sp => new IpcClientHealthCheck(sp.GetRequiredService<IIpcClientFactory>(), endpointName, shown), failureStatus: null, tags));
        }
    }
}
