using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ipc.TestUtils;

/// <summary>Throw-away certificates for TLS tests, written as PEM files to a temporary folder deleted on dispose.</summary>
public sealed class TestCertificates : IDisposable
{
    /// <summary>The only name in the certificate of <see cref="OtherHostCertificatePath"/>: neither localhost nor an address.</summary>
    public const string OtherHostName = "ipc.test";

    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("ipc-certs-");

    /// <summary>
    /// Creates an authority, a server certificate for localhost/127.0.0.1, one for <see cref="OtherHostName"/> only and a
    /// client certificate issued by it, and an unrelated authority with its own client certificate.
    /// </summary>
    public TestCertificates()
    {
        using var authority = CreateAuthority("CN=Ipc Test Authority");
        using var other = CreateAuthority("CN=Ipc Other Authority");
        AuthorityPath = WritePublic(authority, "authority.pem");
        OtherAuthorityPath = WritePublic(other, "other-authority.pem");
        (ServerCertificatePath, ServerKeyPath) = Issue(authority, "CN=localhost", "server", server: true);
        (OtherHostCertificatePath, OtherHostKeyPath) = Issue(authority, "CN=" + OtherHostName, "other-host", server: true, dnsName: OtherHostName);
        (ClientCertificatePath, ClientKeyPath) = Issue(authority, "CN=ipc-client", "client", server: false);
        (OtherClientCertificatePath, OtherClientKeyPath) = Issue(other, "CN=intruder", "intruder", server: false);
    }

    public string AuthorityPath { get; }

    public string OtherAuthorityPath { get; }

    public string ServerCertificatePath { get; }

    public string ServerKeyPath { get; }

    /// <summary>Gets a server certificate of the authority for <see cref="OtherHostName"/> only.</summary>
    public string OtherHostCertificatePath { get; }

    public string OtherHostKeyPath { get; }

    public string ClientCertificatePath { get; }

    public string ClientKeyPath { get; }

    public string OtherClientCertificatePath { get; }

    public string OtherClientKeyPath { get; }

    /// <summary>Gets the path of a file named <paramref name="name"/> in the temporary folder (deleted on dispose), for a test's own files.</summary>
    public string PathOf(string name) => Path.Combine(_folder.FullName, name);

    /// <summary>Gets the SHA-256 thumbprint (hex) of the certificate in the PEM file <paramref name="certificatePath"/>.</summary>
    public static string Thumbprint(string certificatePath)
    {
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(certificatePath);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>Loads a certificate and its key from PEM files, persistable (a PKCS#12 round trip), as a server or a store needs it.</summary>
    public static X509Certificate2 Load(string certificatePath, string keyPath)
    {
        using var ephemeral = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes a certificate and its key from PEM files to a PKCS#12 file protected by <paramref name="password"/>; returns its path.</summary>
    public string WritePkcs12(string certificatePath, string keyPath, string password)
    {
        using var certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        var path = Path.Combine(_folder.FullName, Path.GetFileNameWithoutExtension(certificatePath) + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    /// <summary>Writes the PEM key of <paramref name="keyPath"/> again, encrypted with <paramref name="password"/>; returns its path.</summary>
    public string WriteEncryptedKey(string keyPath, string password)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(keyPath));
        var path = Path.Combine(_folder.FullName, Path.GetFileNameWithoutExtension(keyPath) + "-encrypted.key");
        File.WriteAllText(path, key.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000)));
        return path;
    }

    /// <inheritdoc />
    public void Dispose() => _folder.Delete(recursive: true);

    private static X509Certificate2 CreateAuthority(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(1));
    }

    private (string Certificate, string Key) Issue(X509Certificate2 authority, string subject, string name, bool server, string? dnsName = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            if (dnsName is not null)
            {
                names.AddDnsName(dnsName);
            }
            else
            {
                names.AddDnsName("localhost");
                names.AddIpAddress(IPAddress.Loopback);
            }

            request.CertificateExtensions.Add(names.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40); // positive, and no leading zero byte (DER wants a minimal integer)

        // Within the authority's validity, which a separate clock reading could overshoot by a tick.
        using var certificate = request.Create(authority, authority.NotBefore, authority.NotAfter.AddMinutes(-1), serial);
        var certificatePath = Path.Combine(_folder.FullName, name + ".pem");
        var keyPath = Path.Combine(_folder.FullName, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    private string WritePublic(X509Certificate2 certificate, string name)
    {
        var path = Path.Combine(_folder.FullName, name);
        File.WriteAllText(path, certificate.ExportCertificatePem());
        return path;
    }
}
