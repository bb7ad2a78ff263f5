using Microsoft.Extensions.Configuration;

namespace Ipc;

/// <summary>The configuration path of the Ipc section (and the section, when bound from configuration), so error messages name the exact key to fix.</summary>
internal sealed record IpcConfigurationPath(string Path, IConfiguration? Section = null)
{
    public string Endpoint(string name, string key) => $"{Path}:Endpoints:{name}:{key}";
}
