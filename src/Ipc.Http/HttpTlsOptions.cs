using Ipc.Transports;

namespace Ipc.Http;

/// <summary>
/// TLS and mutual TLS of <c>https://</c> endpoints (<c>Ipc:Transports:Http:Tls</c>): the settings every TLS transport
/// shares (<see cref="TlsOptions"/>). A server on its own Kestrel needs a certificate; a refused client certificate is
/// answered with 401 (<see cref="IpcErrorCode.Unauthorized"/>).
/// </summary>
public sealed class HttpTlsOptions : TlsOptions;
