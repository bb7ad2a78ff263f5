using Microsoft.Extensions.Configuration;

namespace Ipc.Resilience;

/// <summary>
/// One step that changes the resilience options: from configuration or code, for every endpoint or one.
/// Steps run by <see cref="Stage"/>, then in registration order.
/// </summary>
internal sealed record ResilienceSetup(ResilienceStage Stage, string? EndpointName, Action<string, IpcResilienceOptions> Configure);

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
        yield return new ResilienceSetup(ResilienceStage.GlobalConfiguration, null, (_, options) => ipcSection.GetSection(SectionName).Bind(options));
        yield return new ResilienceSetup(ResilienceStage.EndpointConfiguration, null, (name, options) =>
            ipcSection.GetSection("Endpoints").GetSection(name).GetSection(SectionName).Bind(options));
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
    /// The configuration key a setting of <paramref name="endpointName"/> came from (<paramref name="key"/> is relative,
    /// like <c>Retry:Delay</c>): the endpoint's own key, unless only the global one is set in configuration.
    /// </summary>
    public string KeyOf(string endpointName, string key)
    {
        var endpointKey = path.Endpoint(endpointName, $"{SectionName}:{key}");
        if (path.Section is { } section
            && section.GetSection("Endpoints").GetSection(endpointName).GetSection(SectionName).GetSection(key).Value is null
            && section.GetSection(SectionName).GetSection(key).Value is not null)
        {
            return $"{path.Path}:{SectionName}:{key}";
        }

        return endpointKey;
    }
}
