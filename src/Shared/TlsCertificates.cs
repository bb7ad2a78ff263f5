using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

using Ipc.Transports;

namespace Ipc.Tls;

/// <summary>
/// Certificate loading and peer validation shared by the transports that speak TLS (sockets, HTTP, gRPC); compiled into
/// each of them from one source file.
/// </summary>
internal static class TlsCertificates
{
    /// <summary>The chain failures of a certificate that chains to the authority but whose revocation is not known to be good.</summary>
    private const X509ChainStatusFlags RevocationFailures = X509ChainStatusFlags.Revoked | X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation;

    /// <summary>
    /// For an options validator: a key file needs its certificate file, and every file named must exist. Failures start
    /// with <paramref name="section"/>, the key of the options that hold <paramref name="tls"/>.
    /// </summary>
    public static void CheckFiles(string section, TlsOptions tls, ICollection<string> failures)
    {
        if (tls.CertificateKeyPath is not null && tls.CertificatePath is null)
        {
            failures.Add($"{section}:Tls:CertificateKeyPath is set without CertificatePath.");
        }

        if (tls.ClientCertificateKeyPath is not null && tls.ClientCertificatePath is null)
        {
            failures.Add($"{section}:Tls:ClientCertificateKeyPath is set without ClientCertificatePath.");
        }

        foreach (var path in new[] { tls.CertificatePath, tls.CertificateKeyPath, tls.ClientCertificatePath, tls.ClientCertificateKeyPath, tls.CertificateAuthorityPath })
        {
            if (path is not null && !File.Exists(path))
            {
                failures.Add($"{section}:Tls: the file '{path}' does not exist.");
            }
        }
    }

    /// <summary>The certificate a client presents: the one set in code, else the one in <see cref="TlsOptions.ClientCertificatePath"/>, else none.</summary>
    public static X509Certificate2? ClientCertificate(TlsOptions tls) =>
        tls.ClientCertificate ?? (tls.ClientCertificatePath is { } path ? Load(path, tls.ClientCertificateKeyPath, tls.ClientCertificatePassword, "Client") : null);

    public static X509RevocationMode RevocationMode(bool checkRevocation) => checkRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;

    /// <summary>
    /// Loads a certificate with its key from a PKCS#12 (<c>.pfx</c>, <c>.p12</c>) or PEM file. A file that does not load
    /// (a wrong password, a key that does not match) is reported naming it and the options of <paramref name="role"/>'s
    /// certificate (<c>Client</c>, or empty for a server's).
    /// </summary>
    public static X509Certificate2 Load(string path, string? keyPath, string? password, string role)
    {
        try
        {
            return Load(path, keyPath, password);
        }
        catch (CryptographicException ex)
        {
            throw new CryptographicException(
                $"The certificate '{path}'{(keyPath is null ? string.Empty : $" with the key '{keyPath}'")} could not be loaded: {ex.Message} Check Tls:{role}CertificatePath, {role}CertificateKeyPath and {role}CertificatePassword.",
                ex);
        }
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

        // A PEM key is ephemeral, which TLS on some platforms cannot use for a server; a PKCS#12 round trip makes it persistable.
        using (certificate)
        {
#if NET9_0_OR_GREATER
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
#else
            return new X509Certificate2(certificate.Export(X509ContentType.Pkcs12));
#endif
        }
    }

    /// <summary>Loads a certificate without a key (an authority) from a file.</summary>
    public static X509Certificate2 LoadPublic(string path)
    {
#if NET9_0_OR_GREATER
        return X509CertificateLoader.LoadCertificateFromFile(path);
#else
        return new X509Certificate2(path);
#endif
    }

    /// <summary>Finds a certificate by thumbprint in a store; <see langword="null"/> when it is not there.</summary>
    public static X509Certificate2? Find(StoreName storeName, StoreLocation storeLocation, string thumbprint)
    {
        using var store = new X509Store(storeName, storeLocation);
        try
        {
            store.Open(OpenFlags.ReadOnly);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException(
                $"The certificate store {storeLocation}/{storeName} cannot be opened: {ex.Message} Set Tls:CertificateStoreLocation and CertificateStoreName to a store this system has, or give the certificate as a file (Tls:CertificatePath).",
                ex);
        }

        var found = store.Certificates.Find(X509FindType.FindByThumbprint, thumbprint, validOnly: false);
        return found.Count > 0 ? found[0] : null;
    }

    /// <summary>
    /// Checks a client certificate a server's handshake let through without judging it, as <see cref="Validate"/> does:
    /// without pins or an authority, whether the system trusts its chain stands in for the handshake's verdict.
    /// </summary>
    public static string? ValidateClient(X509Certificate2? certificate, IList<string> allowedThumbprints, X509Certificate2? authority, X509RevocationMode revocationMode)
    {
        if (certificate is null)
        {
            return "no certificate was presented";
        }

        var errors = SslPolicyErrors.None;
        if (allowedThumbprints.Count == 0 && authority is null)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.RevocationMode = revocationMode;
            if (!chain.Build(certificate))
            {
                errors = SslPolicyErrors.RemoteCertificateChainErrors;
            }
        }

        return Validate(certificate, errors, checkName: false, allowedThumbprints, authority, revocationMode);
    }

    /// <summary>
    /// Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not: pinned by SHA-256
    /// thumbprint when <paramref name="allowedThumbprints"/> has any, else issued by <paramref name="authority"/> when one is
    /// configured, else trusted by the system.
    /// </summary>
    public static string? Validate(
        X509Certificate? certificate,
        SslPolicyErrors errors,
        bool checkName,
        IList<string> allowedThumbprints,
        X509Certificate2? authority,
        X509RevocationMode revocationMode)
    {
        if (certificate is null)
        {
            return "no certificate was presented";
        }

        using var peer = new X509Certificate2(certificate);
        if (allowedThumbprints.Count > 0)
        {
            var thumbprint = peer.GetCertHashString(HashAlgorithmName.SHA256);
            return allowedThumbprints.Any(t => string.Equals(t.Replace(":", string.Empty, StringComparison.Ordinal), thumbprint, StringComparison.OrdinalIgnoreCase))
                ? null
                : $"the certificate {peer.Subject} (SHA-256 {thumbprint}) is not in AllowedThumbprints";
        }

        if (checkName && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the certificate {peer.Subject} does not match the expected host name";
        }

        if (authority is null)
        {
            return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None
                ? null
                : $"the certificate {peer.Subject} is not trusted ({errors})";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = revocationMode;
        if (chain.Build(peer))
        {
            return null;
        }

        var why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
        return chain.ChainStatus.Length > 0 && chain.ChainStatus.All(s => (s.Status & ~RevocationFailures) == 0)
            ? $"the certificate {peer.Subject} failed the revocation check of CheckCertificateRevocation ({why})"
            : $"the certificate {peer.Subject} was not issued by the configured authority {authority.Subject} ({why})";
    }
}
