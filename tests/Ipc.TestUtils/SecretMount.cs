using System.Runtime.InteropServices;

namespace Ipc.TestUtils;

/// <summary>
/// A folder laid out as Kubernetes mounts a secret: each file is a link through <c>..data</c>, itself a link to the folder
/// of the current version, and a new version is published by one atomic rename of a new <c>..data</c> link over the old.
/// The files' own links never change, so only a reader that follows links sees the renewal.
/// </summary>
public sealed partial class SecretMount
{
    private readonly string _folder;
    private int _version;

    /// <summary>Initializes a new instance of the <see cref="SecretMount"/> class in <paramref name="folder"/>, which it creates.</summary>
    public SecretMount(string folder)
    {
        _folder = folder;
        Directory.CreateDirectory(folder);
    }

    /// <summary>Gets the path of the mounted file <paramref name="name"/>, as an app is configured with it.</summary>
    public string PathOf(string name) => Path.Combine(_folder, name);

    /// <summary>Publishes a version whose files are copies of the given ones, under their names, as the kubelet does.</summary>
    public void Publish(params (string Name, string Source)[] files)
    {
        var version = $"..{++_version}";
        Directory.CreateDirectory(Path.Combine(_folder, version));
        foreach (var (name, source) in files)
        {
            File.Copy(source, Path.Combine(_folder, version, name));
        }

        var data = Path.Combine(_folder, "..data");
        if (_version == 1)
        {
            File.CreateSymbolicLink(data, version);
            foreach (var (name, _) in files)
            {
                File.CreateSymbolicLink(PathOf(name), Path.Combine("..data", name));
            }

            return;
        }

        var next = Path.Combine(_folder, "..data_tmp");
        File.CreateSymbolicLink(next, version);
        if (Rename(next, data) != 0)
        {
            throw new IOException($"Could not swap {data} to {version}: error {Marshal.GetLastPInvokeError()}.");
        }
    }

    // File.Move and Directory.Move refuse a link to a folder as their source or destination; rename(2) replaces the link.
    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string oldPath, string newPath);
}
