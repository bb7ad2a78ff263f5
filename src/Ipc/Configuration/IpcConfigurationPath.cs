using Microsoft.Extensions.Configuration;

namespace Ipc;

/// <summary>The Ipc configuration section (when bound from configuration) and its path, so error messages name the exact key to fix.</summary>
internal sealed record IpcConfigurationPath(string Path, IConfiguration? Section = null)
{
    public string Endpoint(string name, string key) => $"{Path}:Endpoints:{name}:{key}";

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
