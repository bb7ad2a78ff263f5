namespace Ipc;

/// <summary>The packages of the library's own transports, so an address whose adapter is not referenced names the package to add.</summary>
internal static class TransportPackages
{
    private static readonly Dictionary<string, string> s_byScheme = new(StringComparer.OrdinalIgnoreCase)
    {
        ["unix"] = "Ipc.Sockets",
        ["tcp"] = "Ipc.Sockets",
        ["pipe"] = "Ipc.Pipes",
        ["worker"] = "Ipc.Pipes",
        ["shm"] = "Ipc.SharedMemory",
        ["http"] = "Ipc.Http",
        ["https"] = "Ipc.Http",
        ["grpc"] = "Ipc.Grpc",
        ["grpcs"] = "Ipc.Grpc",
        ["amqp"] = "Ipc.Amqp",
        ["amqps"] = "Ipc.Amqp",
    };

    /// <summary>Returns the package whose transport serves <paramref name="scheme"/>, or <see langword="null"/> for a scheme of another library.</summary>
    public static string? Find(string scheme) => s_byScheme.GetValueOrDefault(scheme);
}
