using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ipc.Http;

/// <summary>Loads the certificates of <see cref="HttpTlsOptions"/> and validates peer certificates by them.</summary>
internal sealed class HttpTls
{
    private readonly HttpTlsOptions _options;
    private readonly X509Certificate2? _authority;

    public HttpTls(HttpTlsOptions options)
    {
        _options = options;
        _authority = options.CertificateAuthorityPath is { } path ? LoadPublic(path) : null;
    }

    public X509Certificate2? ClientCertificate() =>
        _options.ClientCertificate
        ?? (_options.ClientCertificatePath is { } path ? Load(path, _options.ClientCertificateKeyPath, _options.ClientCertificatePassword) : null);

    public X509Certificate2 ServerCertificate(string endpointName) =>
        _options.Certificate
        ?? (_options.CertificatePath is { } path
            ? Load(path, _options.CertificateKeyPath, _options.CertificatePassword)
            : throw new InvalidOperationException(
                $"Endpoint '{endpointName}' has an https:// address but no server certificate. Set Ipc:Transports:Http:Tls:CertificatePath (or Ipc:Endpoints:{endpointName}:Http:Tls:CertificatePath, or Certificate in code)."));

    public X509RevocationMode RevocationMode => _options.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;

    /// <summary>Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not.</summary>
    public string? Validate(X509Certificate? certificate, SslPolicyErrors errors, bool checkName)
    {
        if (certificate is null)
        {
            return "no certificate was presented";
        }

        using var peer = new X509Certificate2(certificate);
        if (_options.AllowedThumbprints.Count > 0)
        {
            var thumbprint = peer.GetCertHashString(HashAlgorithmName.SHA256);
            return _options.AllowedThumbprints.Any(t => string.Equals(t.Replace(":", string.Empty, StringComparison.Ordinal), thumbprint, StringComparison.OrdinalIgnoreCase))
                ? null
                : $"the certificate {peer.Subject} (SHA-256 {thumbprint}) is not in AllowedThumbprints";
        }

        if (checkName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the certificate {peer.Subject} does not match the expected host name";
        }

        if (_authority is null)
        {
            return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None
                ? null
                : $"the certificate {peer.Subject} is not trusted ({errors})";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_authority);
        chain.ChainPolicy.RevocationMode = RevocationMode;
        return chain.Build(peer)
            ? null
            : $"the certificate {peer.Subject} was not issued by the configured authority {_authority.Subject} ({string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))})";
    }

    private static X509Certificate2 Load(string path, string? keyPath, string? password)
    {
        var extension = Path.GetExtension(path);
        if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
        {
#if NET9_0_OR_GREATER
            return X509CertificateLoader.LoadPkcs12FromFile(path, password);
#else
            return new X509Certificate2(path, password);
#endif
        }

        var certificate = password is null
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);

        // SslStream on Linux wants a key it can export to its native store; PEM keys are ephemeral until re-imported.
        using (certificate)
        {
#if NET9_0_OR_GREATER
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
#else
            return new X509Certificate2(certificate.Export(X509ContentType.Pkcs12));
#endif
        }
    }

    private static X509Certificate2 LoadPublic(string path)
    {
#if NET9_0_OR_GREATER
        return X509CertificateLoader.LoadCertificateFromFile(path);
#else
        return new X509Certificate2(path);
#endif
    }
}
