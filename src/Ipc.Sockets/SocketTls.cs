using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ipc.Sockets;

/// <summary>Turns <see cref="SocketTlsOptions"/> into SslStream settings and validates peer certificates by them.</summary>
internal sealed class SocketTls
{
    private readonly SocketTlsOptions _options;
    private readonly X509Certificate2? _authority;

    public SocketTls(SocketTlsOptions options)
    {
        _options = options;
        _authority = options.CertificateAuthorityPath is { } path ? LoadPublic(path) : null;
    }

    public async ValueTask<SslStream> AuthenticateAsClientAsync(Stream stream, string host, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        var clientCertificate = _options.ClientCertificate
            ?? (_options.ClientCertificatePath is { } path ? Load(path, _options.ClientCertificateKeyPath, _options.ClientCertificatePassword) : null);
        string? refusal = null;
        try
        {
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = _options.TargetHost ?? host,
                    ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                    CertificateRevocationCheckMode = RevocationMode,
                    RemoteCertificateValidationCallback = (_, certificate, chain, errors) => (refusal = Validate(certificate, errors, checkName: true)) is null,
                },
                cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (AuthenticationException ex) when (refusal is not null)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException($"This client refused the server's certificate: {refusal}.", ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs the server handshake; returns the stream and, when the client certificate is not acceptable, why.</summary>
    public async ValueTask<(SslStream Stream, string? Refusal)> AuthenticateAsServerAsync(Stream stream, X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        string? refusal = null;
        try
        {
            // The handshake accepts any client certificate; a bad one is refused afterwards over the TLS stream, so the
            // client is told why (Unauthorized) whatever the TLS version, instead of seeing a bare alert.
            await ssl.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    ClientCertificateRequired = _options.ClientCertificateRequired,
                    CertificateRevocationCheckMode = RevocationMode,
                    RemoteCertificateValidationCallback = (_, clientCertificate, _, errors) =>
                    {
                        if (_options.ClientCertificateRequired)
                        {
                            refusal = Validate(clientCertificate, errors, checkName: false);
                        }

                        return true;
                    },
                },
                cancellationToken).ConfigureAwait(false);
            if (_options.ClientCertificateRequired && refusal is null && ssl.RemoteCertificate is null)
            {
                refusal = "no client certificate was presented";
            }

            return (ssl, refusal);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
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
                : throw new InvalidOperationException($"Ipc:Endpoints:{endpointName}:Sockets:Tls:CertificateThumbprint: no certificate with thumbprint {thumbprint} is in {_options.CertificateStoreLocation}/{_options.CertificateStoreName}.");
        }

        throw new InvalidOperationException(
            $"Endpoint '{endpointName}' enables TLS but has no server certificate. Set Ipc:Transports:Sockets:Tls:CertificatePath (or CertificateThumbprint, or Certificate in code).");
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

        return password is null
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
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
