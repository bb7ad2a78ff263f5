using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Polly.Registry;

namespace Ipc.Resilience;

/// <summary>
/// Checks an endpoint's effective resilience options at start; every failure names what to fix: the configuration key
/// that supplied the value, or the option's property and the <c>ConfigureResilience</c> call that set it in code.
/// </summary>
internal sealed class ResilienceValidator(ResilienceSettings settings, IpcConfigurationPath path, IServiceProvider services)
{
    private static readonly TimeSpan s_minTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan s_maxTimeout = TimeSpan.FromDays(1);

    public void Validate(string name, IpcEndpointOptions endpoint, TransportKind kind, List<string> failures)
    {
        IpcResilienceOptions options;
        try
        {
            options = settings.Get(name, kind);
        }
        catch (InvalidOperationException ex)
        {
            // The binder's message names the key and the value it could not convert.
            failures.Add($"{path.Endpoint(name, ResilienceSettings.SectionName)} could not be read: {ex.Message}");
            return;
        }

        string Key(string key) => settings.SourceOf(name, kind, key);

        if (options.PipelineName is { } pipelineName)
        {
            var pipelines = services.GetService<ResiliencePipelineProvider<string>>();
            if (pipelines is null || !pipelines.TryGetPipeline(pipelineName, out _))
            {
                failures.Add($"{Key(nameof(IpcResilienceOptions.PipelineName))} '{pipelineName}' is not a registered resilience pipeline. Register it with services.AddResiliencePipeline(\"{pipelineName}\", builder => ...), or remove the setting to use the standard pipeline.");
            }
        }
        else
        {
            ValidateStandard(name, endpoint, kind, options, Key, failures);
        }

        var chaos = $"{nameof(IpcResilienceOptions.Chaos)}:";
        if (options.Chaos.Fault.Enabled)
        {
            ValidateAnnotations(options.Chaos.Fault, chaos + nameof(IpcChaosOptions.Fault), Key, failures);
        }

        if (options.Chaos.Latency.Enabled)
        {
            ValidateAnnotations(options.Chaos.Latency, chaos + nameof(IpcChaosOptions.Latency), Key, failures);
        }

        if (options.Chaos.Outcome.Enabled)
        {
            ValidateAnnotations(options.Chaos.Outcome, chaos + nameof(IpcChaosOptions.Outcome), Key, failures);
        }
    }

    private void ValidateStandard(string name, IpcEndpointOptions endpoint, TransportKind kind, IpcResilienceOptions options, Func<string, string> key, List<string> failures)
    {
        ValidateTimeout(options.TotalTimeout, key(nameof(IpcResilienceOptions.TotalTimeout)), failures);
        ValidateTimeout(options.AttemptTimeout, key(nameof(IpcResilienceOptions.AttemptTimeout)), failures);

        var (total, totalSource) = endpoint.RequestTimeout is { } requestTimeout
            ? (requestTimeout, RequestTimeoutSource(name, requestTimeout))
            : options.TotalTimeout is { } totalTimeout
                ? (totalTimeout, key(nameof(IpcResilienceOptions.TotalTimeout)))
                : (ResilienceDefaults.TotalTimeout(kind), $"the default of {kind.ToString().ToLowerInvariant()} transports");
        if (options.AttemptTimeout is { } attempt && attempt != Timeout.InfiniteTimeSpan && total != Timeout.InfiniteTimeSpan && attempt >= total)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{key(nameof(IpcResilienceOptions.AttemptTimeout))} is {attempt}: it must be shorter than the total timeout, {total} ({totalSource}), or one attempt could use up the whole call and leave no time to retry."));
        }

        var retry = $"{nameof(IpcResilienceOptions.Retry)}";
        if (options.Retry.MaxRetryAttempts < 0)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{key(retry + ":" + nameof(options.Retry.MaxRetryAttempts))} is {options.Retry.MaxRetryAttempts}: it must be 0 (no retries) or more."));
        }
        else if (options.Retry.MaxRetryAttempts > 0)
        {
            ValidateAnnotations(options.Retry, retry, key, failures);
        }

        ValidateAnnotations(options.CircuitBreaker, nameof(IpcResilienceOptions.CircuitBreaker), key, failures);
    }

    /// <summary>
    /// Names where the endpoint's RequestTimeout came from: its configuration key when the configuration holds that
    /// value, else the property, set in code (<c>AddEndpoint</c>, <c>ConfigureEndpoint</c>, <c>AddIpc(configure)</c>).
    /// </summary>
    private string RequestTimeoutSource(string name, TimeSpan value)
    {
        return path.ConfiguredKey($"Endpoints:{name}:{nameof(IpcEndpointOptions.RequestTimeout)}", value)
            ?? $"{nameof(IpcEndpointOptions)}.{nameof(IpcEndpointOptions.RequestTimeout)} of endpoint '{name}', set in code";
    }

    private static void ValidateTimeout(TimeSpan? timeout, string key, List<string> failures)
    {
        if (timeout is { } value && value != Timeout.InfiniteTimeSpan && (value < s_minTimeout || value > s_maxTimeout))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{key} is {value}: it must be between {s_minTimeout} and {s_maxTimeout}, or -00:00:00.001 for no timeout."));
        }
    }

    /// <summary>Runs the DataAnnotations Polly puts on its options (ranges, required callbacks) and names the key of each failure.</summary>
    private static void ValidateAnnotations(object options, string section, Func<string, string> key, List<string> failures)
    {
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            return;
        }

        foreach (var result in results)
        {
            var member = result.MemberNames.FirstOrDefault() ?? string.Empty;
            var value = options.GetType().GetProperty(member)?.GetValue(options);
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{key(section + ":" + member)} is {value}: {result.ErrorMessage}"));
        }
    }
}
