using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Ipc.Tls;
using Microsoft.Extensions.Logging;

namespace Ipc.Http;

/// <summary>Loads the certificates of <see cref="HttpTlsOptions"/> and validates peer certificates by them.</summary>
internal sealed class HttpTls
{
    private readonly HttpTlsOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<string, Exception> _reloadFailed;
    private readonly CertificateFile? _authority;

    /// <summary>
    /// Loads the authority of <paramref name="options"/>. Its file, and the server certificate's, are read again when they
    /// change (by <paramref name="time"/>), for the handshakes after; a change that does not load keeps the last good
    /// certificate and is logged to <paramref name="logger"/> for the endpoint <paramref name="endpointName"/>.
    /// </summary>
    public HttpTls(HttpTlsOptions options, string endpointName, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _reloadFailed = (path, ex) => Log.CertificateReloadFailed(logger, endpointName, path, ex.Message, ex);
        _authority = CertificateFile.ForAuthority(options, time, _reloadFailed);
    }

    /// <summary>Has a client present its certificate, if it has one: a certificate file is read again when it changes.</summary>
    public void PresentClientCertificate(SslClientAuthenticationOptions options) =>
        CertificateFile.ForClient(_options, _time, _reloadFailed)?.PresentAsClient(options);

    /// <summary>The server certificate: from <see cref="Transports.TlsOptions.Certificate"/> or its file, read again when it changes.</summary>
    public CertificateFile ServerCertificate(string endpointName) =>
        CertificateFile.ForServer(_options, _time, _reloadFailed)
        ?? throw new InvalidOperationException(
            $"Endpoint '{endpointName}' has an https:// address but no server certificate. Set Ipc:Transports:Http:Tls:CertificatePath (or Ipc:Endpoints:{endpointName}:Http:Tls:CertificatePath, or Certificate in code).");

    public X509RevocationMode RevocationMode => TlsCertificates.RevocationMode(_options.CheckCertificateRevocation);

    /// <summary>Checks a client certificate the handshake accepted without judging it: chain (or pins) only.</summary>
    public string? ValidateClient(X509Certificate2? certificate) =>
        TlsCertificates.ValidateClient(certificate, _options.AllowedThumbprints, _authority?.Current, RevocationMode);

    /// <summary>Returns <see langword="null"/> when the peer certificate is acceptable, otherwise why not.</summary>
    public string? Validate(X509Certificate? certificate, SslPolicyErrors errors, bool checkName) =>
        TlsCertificates.Validate(certificate, errors, checkName, _options.AllowedThumbprints, _authority?.Current, RevocationMode);
}
