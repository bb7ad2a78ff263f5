using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly.Registry;
using Polly.Telemetry;

namespace Ipc.Resilience;

/// <summary>Builds the resilience pipeline of an endpoint's client, with the app's telemetry and named pipelines.</summary>
internal sealed class ResilienceProvider(ResilienceSettings settings, IOptions<TelemetryOptions> telemetry, IServiceProvider services, ILoggerFactory? loggers = null)
{
    private readonly ILogger _logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Ipc.Resilience");

    public EndpointResilience Create(EndpointRuntime endpoint)
    {
        var kind = ResilienceDefaults.KindOf(endpoint.Capabilities);
        return EndpointResilience.Create(
            endpoint.Name,
            settings.Get(endpoint.Name, kind),
            endpoint.Options.RequestTimeout,
            kind,
            endpoint.TransportContext.TimeProvider,
            telemetry.Value,
            services.GetService<ResiliencePipelineProvider<string>>(),
            state => endpoint.Telemetry.CircuitBreakerChanged(state, _logger),
            retry => endpoint.Telemetry.Retried(retry.Context.OperationKey, retry.Outcome.Exception, retry.AttemptNumber, retry.RetryDelay, _logger));
    }
}
