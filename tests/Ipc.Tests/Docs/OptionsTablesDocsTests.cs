using Ipc.Resilience;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Tests.Docs;

/// <summary>
/// The key tables of docs/configuration.md (<see cref="IpcOptions"/>, <see cref="IpcEndpointOptions"/>) and
/// docs/resilience.md (<see cref="IpcResilienceOptions"/>) against the options <c>AddIpc</c> binds by default. Their ranges
/// are written in sentences ("1 to 1,073,741,824", "10 ms to 24 h, or -00:00:00.001 for none", "at least 2") and checked
/// by the validators' own tests, not here.
/// </summary>
public sealed class OptionsTablesDocsTests
{
    private static readonly TransportKind[] s_kinds = [TransportKind.InProcess, TransportKind.Local, TransportKind.Network, TransportKind.Broker];

    /// <summary>Rows that name a configuration section bound by <see cref="ResilienceSettings"/>, not a property: resilience.md documents its keys.</summary>
    private static readonly string[] s_resilienceSection = [ResilienceSettings.SectionName];

    [Fact]
    public void ConfigurationGlobalTable_NamesEveryOptionWithItsBoundDefault()
    {
        var rows = OptionsDocs.Table("docs/configuration.md", "| Key ")
            .Select(row => row with { Key = row.Key.StartsWith("Ipc:", StringComparison.Ordinal) ? row.Key["Ipc:".Length..] : "(not under Ipc:) " + row.Key })
            .Where(row => !s_resilienceSection.Contains(row.Key))
            .ToList();
        using var provider = new ServiceCollection().AddIpc(TestSupport.Json("{}")).Services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<IpcOptions>>().Value;

        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(options, rows)
            .Concat(OptionsDocs.CheckCoverage(typeof(IpcOptions), rows, new Dictionary<string, string>
            {
                // Each endpoint's keys are the second table, checked below against IpcEndpointOptions.
                ["Endpoints"] = "documented by the endpoint table",
            }, "docs/configuration.md")));
    }

    [Fact]
    public void ConfigurationEndpointTable_NamesEveryOptionWithItsBoundDefault()
    {
        // Each endpoint's section is bound onto a new IpcEndpointOptions.
        var rows = OptionsDocs.Table("docs/configuration.md", "| Key ", occurrence: 1).Where(row => !s_resilienceSection.Contains(row.Key)).ToList();
        var phrases = new Dictionary<string, DefaultCheck>(StringComparer.Ordinal)
        {
            ["required"] = OptionsDocs.Null("required: start fails without it"),
            ["the global one"] = OptionsDocs.Null("the global setting applies"),
        };

        OptionsDocs.AssertNone(OptionsDocs.CheckDefaults(new IpcEndpointOptions(), rows, phrases)
            .Concat(OptionsDocs.CheckCoverage(typeof(IpcEndpointOptions), rows, document: "docs/configuration.md")));
    }

    [Fact]
    public void ResilienceTable_NamesEveryOptionWithItsBoundDefault()
    {
        using var provider = new ServiceCollection().AddIpc(TestSupport.Json("{}")).Services.BuildServiceProvider();
        var settings = provider.GetRequiredService<ResilienceSettings>();
        var rows = OptionsDocs.Table("docs/resilience.md", "| Key ");

        // The value a call gets: the timeouts the options leave unset come from the kind.
        object? Effective(TransportKind kind, string key)
        {
            var options = settings.Get("any", kind);
            return key switch
            {
                nameof(IpcResilienceOptions.TotalTimeout) => options.TotalTimeout ?? ResilienceDefaults.TotalTimeout(kind),
                nameof(IpcResilienceOptions.AttemptTimeout) => options.AttemptTimeout ?? ResilienceDefaults.AttemptTimeout(kind),
                _ => OptionsDocs.Read(options, key),
            };
        }

        var phrases = new Dictionary<string, DefaultCheck>(StringComparer.Ordinal)
        {
            // "kind": the table "Defaults by transport kind" gives the values (checked by ResilienceSettingsTests); here, that they do depend on it.
            ["kind"] = (key, _) => s_kinds.Select(kind => Effective(kind, key)).Distinct().Count() > 1 ? null : "the value is the same for every transport kind.",
            ["kind: `true`, `false` in-process"] = (key, _) => s_kinds.All(kind => Equals(Effective(kind, key), kind != TransportKind.InProcess))
                ? null
                : $"the values by kind are {string.Join(", ", s_kinds.Select(kind => $"{kind}: {Effective(kind, key)}"))}.",
            ["off"] = (key, value) => OptionsDocs.Read(value, "Enabled") is false ? null : $"{key} is not off.",
        };

        var problems = s_kinds.SelectMany(kind => OptionsDocs.CheckDefaults(settings.Get("any", kind), rows, phrases).Select(problem => $"{kind}: {problem}"))
            .Distinct()
            .Concat(OptionsDocs.CheckCoverage(typeof(IpcResilienceOptions), rows, new Dictionary<string, string>
            {
                // Polly's own settings of its strategies, documented by Polly; set in code, not configuration.
                ["Retry:Name"] = "the strategy's name in Polly's telemetry",
                ["CircuitBreaker:Name"] = "the strategy's name in Polly's telemetry",
                ["CircuitBreaker:ManualControl"] = "an object to open and close the circuit from code",
                ["CircuitBreaker:StateProvider"] = "an object to read the circuit's state from code",
            }, "docs/resilience.md"));
        OptionsDocs.AssertNone(problems);
    }
}
