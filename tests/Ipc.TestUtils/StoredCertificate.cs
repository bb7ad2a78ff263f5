using System.Security.Cryptography.X509Certificates;

namespace Ipc.TestUtils;

/// <summary>
/// A certificate with its key, added to a store of the current user for the length of a test; disposing removes exactly
/// that certificate from that store, and the folders .NET made for the store on Linux
/// (<c>~/.dotnet/corefx/cryptography/x509stores/&lt;store&gt;</c>) if they did not exist before and hold nothing else.
/// </summary>
public sealed class StoredCertificate : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly StoreName _storeName;
    private readonly List<string> _madeFolders = [];

    /// <summary>Adds the certificate of the PEM files <paramref name="certificatePath"/> and <paramref name="keyPath"/> to CurrentUser/<paramref name="storeName"/>.</summary>
    public StoredCertificate(string certificatePath, string keyPath, StoreName storeName)
    {
        _certificate = TestCertificates.Load(certificatePath, keyPath);
        _storeName = storeName;
        if (!OperatingSystem.IsWindows() && !OperatingSystem.IsMacOS())
        {
            // The folders a store of the current user lives in, the deepest first: the ones missing now are .NET's to make.
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            using var named = new X509Store(storeName, StoreLocation.CurrentUser); // its name, as the folder has it: CertificateAuthority is "CA"
            for (var folder = Path.Combine(home, ".dotnet", "corefx", "cryptography", "x509stores", named.Name!.ToLowerInvariant());
                 folder.Length > home.Length && !Directory.Exists(folder);
                 folder = Path.GetDirectoryName(folder)!)
            {
                _madeFolders.Add(folder);
            }
        }

        using var store = new X509Store(storeName, StoreLocation.CurrentUser);
        store.Open(OpenFlags.ReadWrite);
        store.Add(_certificate);
    }

    /// <summary>Gets the SHA-1 thumbprint (hex) the store finds the certificate by.</summary>
    public string Thumbprint => _certificate.Thumbprint;

    /// <inheritdoc />
    public void Dispose()
    {
        using (var store = new X509Store(_storeName, StoreLocation.CurrentUser))
        {
            store.Open(OpenFlags.ReadWrite);
            store.Remove(_certificate);
        }

        _certificate.Dispose();
        foreach (var folder in _madeFolders)
        {
            if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any())
            {
                Directory.Delete(folder);
            }
        }
    }
}
