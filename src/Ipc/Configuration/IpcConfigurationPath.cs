using System.ComponentModel;
using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Ipc;

/// <summary>The Ipc configuration section (when bound from configuration) and its path, so error messages name the exact key to fix.</summary>
internal sealed record IpcConfigurationPath(string Path, IConfiguration? Section = null)
{
    public string Endpoint(string name, string key) => $"{Path}:Endpoints:{name}:{key}";

    /// <summary>
    /// The full key of <paramref name="key"/> (relative to the Ipc section, like <c>Endpoints:svc:MaxMessageSize</c>)
    /// when the configuration holds <paramref name="value"/> there, read as the binder reads it; else null, as the
    /// value was set in code (or the key is not set at all).
    /// </summary>
    public string? ConfiguredKey(string key, object? value)
    {
        if (value is null || Section?.GetSection(key) is not { Value: { } text } setting)
        {
            return null;
        }

        return Holds(text, value) ? setting.Path : null;
    }

    /// <summary>
    /// Names a setting of an endpoint in a validation failure: its configuration key when the configuration holds the
    /// value found, else the property of <see cref="IpcEndpointOptions"/>, set in code (<c>AddEndpoint</c>,
    /// <c>ConfigureEndpoint</c>, <c>AddIpc(configure)</c>). A setting with no value is named by its key when Ipc is bound
    /// from configuration (where it would be set), else by its property.
    /// </summary>
    public string EndpointSetting(string name, string property, object? value) =>
        Setting($"Endpoints:{name}:{property}", value, $"{nameof(IpcEndpointOptions)}.{property} of endpoint '{name}'");

    /// <summary>
    /// Names a setting in a validation failure (<paramref name="key"/> is relative to the Ipc section): its key when the
    /// configuration holds <paramref name="value"/>, else <paramref name="property"/> followed by "(set in code)". A
    /// null value is named by its key when Ipc is bound from configuration, else by <paramref name="property"/>.
    /// </summary>
    public string Setting(string key, object? value, string property) =>
        ConfiguredKey(key, value)
        ?? (value is not null ? $"{property} (set in code)" : Section is null ? property : $"{Path}:{key}");

    /// <summary>Whether the configuration's <paramref name="text"/> reads as <paramref name="value"/>.</summary>
    internal static bool Holds(string text, object value)
    {
        if (value is string s)
        {
            return string.Equals(text, s, StringComparison.Ordinal);
        }

        try
        {
            var converter = TypeDescriptor.GetConverter(value.GetType());
            return Equals(converter.ConvertFromString(null, CultureInfo.InvariantCulture, text), value);
        }
        catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// For a key that is missing: when Ipc is bound from configuration and its whole section is empty, says so, since
    /// the usual cause is a configuration file that was not found (appsettings.json not copied next to the app).
    /// Empty when the section has content or Ipc is configured in code.
    /// </summary>
    public string EmptySectionHint()
    {
        if (Section is null || Section.GetChildren().Any())
        {
            return string.Empty;
        }

        return $" The configuration has no '{Path}' section at all: no configuration file with one was found, or the section is empty. " +
            "If it is in appsettings.json, have the project copy the file to the output " +
            "(<None Update=\"appsettings.json\" CopyToOutputDirectory=\"PreserveNewest\" />) and check that the app loads it " +
            $"(the host reads it from its content root; the app runs in {AppContext.BaseDirectory}).";
    }
}
