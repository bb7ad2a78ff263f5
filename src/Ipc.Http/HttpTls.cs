using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Ipc.Tls;

namespace Ipc.Http;

/// <summary>Loads the certificates of <see cref="HttpTlsOptions"/> and validates peer certificates by them.</summary>
internal sealed class HttpTls
{
    private readonly HttpTlsOptions _options;
    private readonly X509Certificate2? _authority;

    public HttpTls(HttpTlsOptions options)
    {
        _options = options;
        _authority = TlsCertificates.Authority(options);
    }

    public X509Certificate2? ClientCertificate() => TlsCertificates.ClientCertificate(_options);

    /// <summary>The server certificate: from <see cref="Transports.TlsOptions.Certificate"/> or its file, read again when it changes.</summary>
    public CertificateFile ServerCertificate(string endpointName, TimeProvider time, Action<string, Exception> reloadFailed) =>
        CertificateFile.ForServer(_options, time, reloadFailed)
        ?? throw new InvalidOperationException(
            $"Endpoint '{endpointName}' has an https:// address but no server certificate. Set Ipc:Transports:Http:Tls:CertificatePath (or Ipc:Endpoints:{endpointName}:Http:Tls:CertificatePath, or Certificate in code).");

    public X509RevocationMode RevocationMode => TlsCertificates.RevocationMode(_options.CheckCertificateRevocation);

    /// <summary>Checks a client certificate the handshake accepted without judging it: chain (or pins) only.</summary>
    public string? ValidateClient(X509Certificate2? certificate) =>
        TlsCertificates.ValidateClient(certificate, _options.AllowedThumbprints, _authority, RevocationMode);

    /// <summary>Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not.</summary>
    public string? Validate(X509Certificate? certificate, SslPolicyErrors errors, bool checkName) =>
        TlsCertificates.Validate(certificate, errors, checkName, _options.AllowedThumbprints, _authority, RevocationMode);
}
