using System.Security.Cryptography.X509Certificates;
using Ipc.Transports;

namespace Ipc.Grpc;

/// <summary>
/// TLS and mutual TLS for <c>grpcs://</c> endpoints (<c>Ipc:Transports:Grpc:Tls</c>), used by a server on its own Kestrel
/// and by clients: the settings every TLS transport shares (<see cref="TlsOptions"/>), a server certificate from a
/// certificate store, and the name a client expects.
/// </summary>
public sealed class GrpcTlsOptions : TlsOptions
{
    /// <summary>Gets or sets the SHA-1 thumbprint of a server certificate to load from <see cref="CertificateStoreName"/> instead of a file.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? CertificateThumbprint { get; set; }

    /// <summary>Gets or sets the store <see cref="CertificateThumbprint"/> is looked up in.</summary>
    /// <value>The default value is <see cref="StoreName.My"/>.</value>
    public StoreName CertificateStoreName { get; set; } = StoreName.My;

    /// <summary>Gets or sets the location of <see cref="CertificateStoreName"/>.</summary>
    /// <value>The default value is <see cref="StoreLocation.CurrentUser"/>.</value>
    public StoreLocation CertificateStoreLocation { get; set; } = StoreLocation.CurrentUser;

    /// <summary>Gets or sets the name the client expects in the server certificate (and sends as SNI).</summary>
    /// <value>The default value is <see langword="null"/>: the host of the address.</value>
    public string? TargetHost { get; set; }
}
