using Microsoft.Extensions.Configuration;

namespace Ipc.Resilience;

/// <summary>
/// One step that changes the resilience options: from configuration or code, for every endpoint or one.
/// Steps run by <see cref="Stage"/>, then in registration order.
/// </summary>
/// <param name="Stage">When the step runs.</param>
/// <param name="EndpointName">The endpoint the step is for; null for every endpoint.</param>
/// <param name="Configure">Changes the options of the endpoint it is given the name of.</param>
/// <param name="ConfigurationKey">
/// For a step that binds configuration: the full configuration key of a setting (given the endpoint's name and the
/// setting's key relative to the resilience section, like <c>Retry:Delay</c>) when the configuration holds it, else null.
/// </param>
internal sealed record ResilienceSetup(
    ResilienceStage Stage,
    string? EndpointName,
    Action<string, IpcResilienceOptions> Configure,
    Func<string, string, string?>? ConfigurationKey = null);

/// <summary>The order in which resilience settings apply, after the transport kind's defaults: the endpoint's own settings win over the global ones.</summary>
internal enum ResilienceStage
{
    GlobalConfiguration,
    GlobalCode,
    EndpointConfiguration,
    EndpointCode,
}

/// <summary>Composes the effective <see cref="IpcResilienceOptions"/> of an endpoint, key by key.</summary>
internal sealed class ResilienceSettings(IEnumerable<ResilienceSetup> setups, IpcConfigurationPath path)
{
    public const string SectionName = "Resilience";

    private readonly ResilienceSetup[] _setups = [.. setups.OrderBy(s => s.Stage)]; // OrderBy is stable: registration order within a stage

    /// <summary>Registers the steps that bind <c>Ipc:Resilience</c> and <c>Ipc:Endpoints:&lt;name&gt;:Resilience</c>.</summary>
    public static IEnumerable<ResilienceSetup> FromConfiguration(IConfiguration ipcSection)
    {
        var global = ipcSection.GetSection(SectionName);
        yield return new ResilienceSetup(
            ResilienceStage.GlobalConfiguration,
            null,
            (_, options) => global.Bind(options),
            (_, key) => global.GetSection(key).Value is null ? null : $"{global.Path}:{key}");

        IConfigurationSection Endpoint(string name) => ipcSection.GetSection("Endpoints").GetSection(name).GetSection(SectionName);
        yield return new ResilienceSetup(
            ResilienceStage.EndpointConfiguration,
            null,
            (name, options) => Endpoint(name).Bind(options),
            (name, key) => Endpoint(name).GetSection(key) is { Value: not null } section ? section.Path : null);
    }

    /// <summary>Returns a new options object for the endpoint: kind defaults, then global and endpoint settings.</summary>
    public IpcResilienceOptions Get(string endpointName, TransportKind kind)
    {
        var options = ResilienceDefaults.Create(kind);
        foreach (var setup in _setups)
        {
            if (setup.EndpointName is null || string.Equals(setup.EndpointName, endpointName, StringComparison.OrdinalIgnoreCase))
            {
                setup.Configure(endpointName, options);
            }
        }

        return options;
    }

    /// <summary>
    /// Says where the effective value of a setting of <paramref name="endpointName"/> came from (<paramref name="key"/>
    /// is relative, like <c>Retry:Delay</c>), so a validation failure names what to fix: the configuration key that
    /// supplied it, or the option's property and the <c>ConfigureResilience</c> call that set it in code. A value no
    /// setting changed is named by the endpoint's configuration key when Ipc is bound from configuration (where it
    /// would be set), else by its property.
    /// </summary>
    public string SourceOf(string endpointName, TransportKind kind, string key)
    {
        var property = $"{nameof(IpcResilienceOptions)}.{key.Replace(':', '.')}";
        var options = ResilienceDefaults.Create(kind);
        string? source = null;
        foreach (var setup in _setups)
        {
            if (setup.EndpointName is not null && !string.Equals(setup.EndpointName, endpointName, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var before = Read(options, key);
            setup.Configure(endpointName, options);
            if (setup.ConfigurationKey is { } configurationKey)
            {
                source = configurationKey(endpointName, key) ?? source;
            }
            else if (!Equals(before, Read(options, key)))
            {
                source = setup.EndpointName is null
                    ? $"{property} (set in code by ConfigureResilience(configure), for every endpoint)"
                    : $"{property} of endpoint '{endpointName}' (set in code by ConfigureResilience(\"{setup.EndpointName}\", configure))";
            }
        }

        return source ?? (path.Section is null ? $"{property} of endpoint '{endpointName}'" : path.Endpoint(endpointName, $"{SectionName}:{key}"));
    }

    /// <summary>Reads the setting at <paramref name="key"/> (<c>Retry:Delay</c>) of <paramref name="options"/>.</summary>
    private static object? Read(object? options, string key)
    {
        foreach (var name in key.Split(':'))
        {
            options = options?.GetType().GetProperty(name)?.GetValue(options);
        }

        return options;
    }
}
