using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ipc.Grpc;

/// <summary>Turns <see cref="GrpcTlsOptions"/> into the client's and the server's TLS settings and validates peer certificates by them.</summary>
internal sealed class GrpcTls
{
    private readonly GrpcTlsOptions _options;
    private readonly X509Certificate2? _authority;

    public GrpcTls(GrpcTlsOptions options)
    {
        _options = options;
        _authority = options.CertificateAuthorityPath is { } path ? LoadPublic(path) : null;
    }

    /// <summary>Gets why the last server certificate this client saw was refused, for the error the caller gets.</summary>
    public string? LastRefusal { get; private set; }

    public SslClientAuthenticationOptions ClientOptions(string host)
    {
        var clientCertificate = _options.ClientCertificate
            ?? (_options.ClientCertificatePath is { } path ? Load(path, _options.ClientCertificateKeyPath, _options.ClientCertificatePassword) : null);
        return new SslClientAuthenticationOptions
        {
            TargetHost = _options.TargetHost ?? host,
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            CertificateRevocationCheckMode = RevocationMode,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => (LastRefusal = Validate(certificate, errors, checkName: true)) is null,
        };
    }

    /// <summary>Checks a client certificate the handshake accepted without judging it: chain (or pins) only.</summary>
    public string? ValidateClient(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return "no certificate was presented";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = RevocationMode;
        var errors = chain.Build(certificate) ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors;
        return Validate(certificate, errors, checkName: false);
    }

    public X509Certificate2 LoadServerCertificate(string endpointName)
    {
        if (_options.Certificate is { } certificate)
        {
            return certificate;
        }

        if (_options.CertificatePath is { } path)
        {
            return Load(path, _options.CertificateKeyPath, _options.CertificatePassword);
        }

        if (_options.CertificateThumbprint is { } thumbprint)
        {
            using var store = new X509Store(_options.CertificateStoreName, _options.CertificateStoreLocation);
            store.Open(OpenFlags.ReadOnly);
            var found = store.Certificates.Find(X509FindType.FindByThumbprint, thumbprint, validOnly: false);
            return found.Count > 0
                ? found[0]
                : throw new InvalidOperationException($"Ipc:Endpoints:{endpointName}:Grpc:Tls:CertificateThumbprint: no certificate with thumbprint {thumbprint} is in {_options.CertificateStoreLocation}/{_options.CertificateStoreName}.");
        }

        throw new InvalidOperationException(
            $"Endpoint '{endpointName}' has a grpcs:// address but no server certificate. Set Ipc:Transports:Grpc:Tls:CertificatePath (or CertificateThumbprint, or Certificate in code).");
    }

    /// <summary>Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not.</summary>
    private string? Validate(X509Certificate? certificate, SslPolicyErrors errors, bool checkName)
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

    private X509RevocationMode RevocationMode => _options.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;

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

        // A PEM key is ephemeral, which TLS on some platforms cannot use for a server; a PKCS#12 round trip makes it persistable.
#if NET9_0_OR_GREATER
        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }
#else
        using (certificate)
        {
            return new X509Certificate2(certificate.Export(X509ContentType.Pkcs12));
        }
#endif
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
