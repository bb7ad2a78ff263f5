using System.ComponentModel.DataAnnotations;

namespace Ipc.Grpc;

/// <summary>
/// The options of the gRPC transport (<c>grpc://</c> and <c>grpcs://</c>), bound from <c>Ipc:Transports:Grpc</c> and then
/// <c>Ipc:Endpoints:&lt;name&gt;:Grpc</c>, per endpoint. The endpoint's <c>MaxMessageSize</c> bounds bodies on both sides.
/// </summary>
public sealed class GrpcTransportOptions
{
    /// <summary>The configuration section name under <c>Ipc:Transports</c> and <c>Ipc:Endpoints:&lt;name&gt;</c>.</summary>
    public const string SectionName = "Grpc";

    /// <summary>Gets or sets a value indicating whether a client may open more HTTP/2 connections to the server when the calls in
    /// flight reach the server's limit of streams per connection.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool EnableMultipleHttp2Connections { get; set; } = true;

    /// <summary>Gets or sets how long a connection is quiet before a side sends an HTTP/2 keep-alive ping, so a peer that vanished is noticed.</summary>
    /// <value>The default value is 60 seconds. At least 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Gets or sets how long a side waits for the answer to a keep-alive ping before it closes the connection.</summary>
    /// <value>The default value is 20 seconds. At least 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Gets or sets how many calls a server runs at once on one HTTP/2 connection (its <c>SETTINGS_MAX_CONCURRENT_STREAMS</c>); a client
    /// with more calls waits, or opens another connection (<see cref="EnableMultipleHttp2Connections"/>).</summary>
    /// <value>The default value is 100.</value>
    [Range(1, 100_000)]
    public int MaxConcurrentCallsPerConnection { get; set; } = 100;

    /// <summary>Gets or sets how many connections a server on its own Kestrel serves at once; past it, new connections are
    /// closed at once and their calls fail with <see cref="IpcErrorCode.Unavailable"/>.</summary>
    /// <value>The default value is 1024.</value>
    [Range(1, 1_048_576)]
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Gets or sets a value indicating whether a server on its own Kestrel serves the standard health service
    /// (<c>grpc.health.v1.Health</c>), answering from the application's health checks.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool EnableHealthService { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether a server on its own Kestrel serves gRPC server reflection, so tools such as
    /// <c>grpcurl</c> can list and call the service without the .proto.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool EnableReflection { get; set; } = true;

    /// <summary>Gets or sets how long a server on its own Kestrel waits for calls to finish when it stops, after it has cancelled their handlers.</summary>
    /// <value>The default value is 5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets the TLS settings of <c>grpcs://</c> endpoints.</summary>
    public GrpcTlsOptions Tls { get; } = new();
}
