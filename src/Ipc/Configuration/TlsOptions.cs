using System.Security.Cryptography.X509Certificates;

namespace Ipc.Transports;

/// <summary>
/// The TLS and mutual TLS settings every transport that speaks TLS shares (<c>Ipc:Transports:&lt;Transport&gt;:Tls</c>, then
/// <c>Ipc:Endpoints:&lt;name&gt;:&lt;Transport&gt;:Tls</c>). A server needs a certificate; a client validates the server's
/// against the system's trust store, or against <see cref="CertificateAuthorityPath"/> or <see cref="AllowedThumbprints"/>.
/// With <see cref="ClientCertificateRequired"/> the server validates the client's the same way. Each transport's own type
/// adds what only it has.
/// </summary>
public abstract class TlsOptions
{
    /// <summary>Initializes a new instance of the <see cref="TlsOptions"/> class.</summary>
    protected TlsOptions()
    {
    }

    /// <summary>Gets or sets the server certificate file: PKCS#12 (<c>.pfx</c>/<c>.p12</c>) or PEM (<c>.pem</c>/<c>.crt</c>, with <see cref="CertificateKeyPath"/>).</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? CertificatePath { get; set; }

    /// <summary>Gets or sets the PEM private key file of <see cref="CertificatePath"/>, when the key is not in that file.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? CertificateKeyPath { get; set; }

    /// <summary>Gets or sets the password of <see cref="CertificatePath"/> (PKCS#12) or of its encrypted PEM key. Keep it in a secret store, not in appsettings.json.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? CertificatePassword { get; set; }

    /// <summary>Gets or sets the server certificate in code (with its private key); it wins over the file.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether the server requires and validates a client certificate (mutual TLS). A client
    /// without an acceptable one is refused with <see cref="IpcErrorCode.Unauthorized"/> (over HTTP, status 401).
    /// </summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool ClientCertificateRequired { get; set; }

    /// <summary>Gets or sets the client certificate file a client presents for mutual TLS: PKCS#12, or PEM with <see cref="ClientCertificateKeyPath"/>.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? ClientCertificatePath { get; set; }

    /// <summary>Gets or sets the PEM private key file of <see cref="ClientCertificatePath"/>.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? ClientCertificateKeyPath { get; set; }

    /// <summary>Gets or sets the password of <see cref="ClientCertificatePath"/> or of its encrypted PEM key.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? ClientCertificatePassword { get; set; }

    /// <summary>Gets or sets the client certificate in code (with its private key); it wins over the file.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>
    /// Gets or sets a certificate file (PEM or DER) of the authority that issued the peer's certificate. When set, the
    /// peer's chain must end in it, and only in it: the system's trust store is not consulted.
    /// </summary>
    /// <value>The default value is <see langword="null"/>: the system's trust store decides.</value>
    public string? CertificateAuthorityPath { get; set; }

    /// <summary>
    /// Gets the SHA-256 thumbprints (hex) of the peer certificates to accept (pinning). When not empty, a peer
    /// certificate is accepted if and only if its thumbprint is listed; chain and name are not checked.
    /// </summary>
    /// <value>The default value is empty.</value>
    public IList<string> AllowedThumbprints { get; } = [];

    /// <summary>
    /// Gets or sets a value indicating whether certificate revocation is checked online. A peer certificate whose
    /// revocation cannot be checked, such as one from an authority that publishes no revocation list, is then refused.
    /// </summary>
    /// <value>The default value is <see langword="false"/>: private authorities seldom publish revocation lists, and the check needs network access.</value>
    public bool CheckCertificateRevocation { get; set; }
}
