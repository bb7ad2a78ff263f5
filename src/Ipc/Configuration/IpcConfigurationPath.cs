using Microsoft.Extensions.Configuration;

namespace Ipc;

/// <summary>The Ipc configuration section (when bound from configuration) and its path, so error messages name the exact key to fix.</summary>
internal sealed record IpcConfigurationPath(string Path, IConfiguration? Section = null)
{
    public string Endpoint(string name, string key) => $"{Path}:Endpoints:{name}:{key}";
}
