namespace Ipc;

/// <summary>The configuration path of the Ipc section, so error messages name the exact key to fix.</summary>
internal sealed record IpcConfigurationPath(string Path)
{
    public string Endpoint(string name, string key) => $"{Path}:Endpoints:{name}:{key}";
}
