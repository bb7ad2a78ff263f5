using System.ComponentModel.DataAnnotations;

namespace Ipc.Http;

/// <summary>
/// The options of the HTTP transport (<c>http://</c> and <c>https://</c>), bound from <c>Ipc:Transports:Http</c> and then
/// <c>Ipc:Endpoints:&lt;name&gt;:Http</c>, per endpoint.
/// </summary>
public sealed class HttpTransportOptions
{
    /// <summary>The configuration section name under <c>Ipc:Transports</c> and <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "Http";

    /// <summary>Gets or sets the HTTP version the client speaks: HTTP/1.1, or HTTP/2 (with prior knowledge on <c>http://</c>, by ALPN on <c>https://</c>).</summary>
    /// <value>
    /// The default value is <see cref="HttpIpcProtocol.Http1"/>. A server on its own Kestrel serves HTTP/1.1 and HTTP/2 on
    /// <c>https://</c>; on <c>http://</c>, where no ALPN tells them apart, it serves the one this option names, so set it alike on both sides.
    /// </value>
    public HttpIpcProtocol Protocol { get; set; } = HttpIpcProtocol.Http1;

    /// <summary>Gets or sets how many connections the client opens to the server at most (HTTP/1.1 carries one call per connection at a time).</summary>
    /// <value>The default value is 64.</value>
    [Range(2, 10_000)]
    public int MaxConnectionsPerServer { get; set; } = 64;

    /// <summary>
    /// Gets or sets how many one-way messages the client has on the way at once; more wait. Kept below
    /// <see cref="MaxConnectionsPerServer"/> and the server's HTTP/2 stream limit (100), so a server that stops taking
    /// messages never holds up the client's requests.
    /// </summary>
    /// <value>The default value is 16.</value>
    [Range(1, 99)]
    public int MaxConcurrentSends { get; set; } = 16;

    /// <summary>
    /// Gets or sets how many one-way messages the server holds, answered with 202, before its handler takes them. A sender
    /// beyond it waits for its 202 until there is room. Messages are handled one at a time, in the order they were accepted.
    /// </summary>
    /// <value>The default value is 1,024.</value>
    [Range(1, 1_000_000)]
    public int MaxQueuedOneWayMessages { get; set; } = 1024;

    /// <summary>
    /// Gets or sets how many bytes of one-way message bodies the server holds, answered with 202, before its handler has
    /// run them. A sender past it waits for its 202 until the handler brings it back under, so large one-way messages to a
    /// slow handler wait with their senders instead of filling the server's memory. One message may exceed it on its own.
    /// </summary>
    /// <value>The default value is 16,777,216 (16 MiB). At least 64 KiB, at most 1 GiB.</value>
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int MaxQueuedOneWayBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Gets or sets how many connections a server on its own Kestrel serves at once; past it, new connections are closed at
    /// once and their calls fail with <see cref="IpcErrorCode.Unavailable"/>. With Kestrel's 100 streams per HTTP/2
    /// connection and the endpoint's <c>MaxMessageSize</c>, it bounds what clients can make the server hold. An app that
    /// maps the endpoint (<c>MapIpc</c>) sets its own Kestrel's limits.
    /// </summary>
    /// <value>The default value is 1024.</value>
    [Range(1, 1_048_576)]
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Gets or sets a value indicating whether the server compresses responses (Brotli or gzip) for clients that accept it.</summary>
    /// <value>The default value is <see langword="true"/>; over <c>https://</c> too (the bodies are the handlers' own data, not secrets mixed with attacker input).</value>
    public bool ResponseCompression { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether the client asks for compressed responses (Accept-Encoding: gzip, deflate, br) and unpacks them.</summary>
    /// <value>The default value is <see langword="false"/>: on a fast network compressing small bodies costs more than it saves.</value>
    public bool AcceptCompressedResponses { get; set; }

    /// <summary>Gets or sets a value indicating whether the server answers <c>GET {base}/health</c>.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool MapHealth { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether the server serves its OpenAPI document at <c>{base}/openapi.json</c> (on .NET 10).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool MapOpenApi { get; set; } = true;

    /// <summary>Gets the TLS settings of <c>https://</c> endpoints.</summary>
    public HttpTlsOptions Tls { get; } = new();
}

/// <summary>The HTTP version an Ipc HTTP client speaks.</summary>
public enum HttpIpcProtocol
{
    /// <summary>HTTP/1.1.</summary>
    Http1,

    /// <summary>HTTP/2: with prior knowledge (h2c) on <c>http://</c>, negotiated by ALPN on <c>https://</c>.</summary>
    Http2,
}
