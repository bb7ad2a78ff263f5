using System.Security.Cryptography.X509Certificates;

namespace Ipc.TestUtils;

/// <summary>
/// A certificate with its key, added to a store of the current user for the length of a test; disposing removes exactly
/// that certificate from that store, and nothing else.
/// </summary>
public sealed class StoredCertificate : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly StoreName _storeName;

    /// <summary>Adds the certificate of the PEM files <paramref name="certificatePath"/> and <paramref name="keyPath"/> to CurrentUser/<paramref name="storeName"/>.</summary>
    public StoredCertificate(string certificatePath, string keyPath, StoreName storeName)
    {
        _certificate = TestCertificates.Load(certificatePath, keyPath);
        _storeName = storeName;
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
    }
}
