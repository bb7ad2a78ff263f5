namespace Ipc;

/// <summary>
/// The options of one endpoint (<c>Ipc:Endpoints:&lt;name&gt;</c>): where it is, and the limits of its calls.
/// </summary>
public sealed class IpcEndpointOptions
{
    /// <summary>The default <see cref="MaxMessageSize"/>: 4 MiB.</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>The largest <see cref="MaxMessageSize"/> allowed: 1 GiB.</summary>
    public const int MaxAllowedMessageSize = 1024 * 1024 * 1024;

    /// <summary>Gets or sets the address; its scheme picks the transport (for example <c>inmemory://calculator</c>, <c>pipe://calculator</c>, <c>tcp://127.0.0.1:5000</c>).</summary>
    /// <value>Required; there is no default.</value>
    public string? Address { get; set; }

    /// <summary>Gets or sets the largest message body, in bytes, either side sends or accepts.</summary>
    /// <value>The default value is 4,194,304 (4 MiB); at least 1 and at most 1 GiB.</value>
    public int MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>
    /// Gets or sets how long a request or a one-way send may take in all, retries included, before it fails with
    /// <see cref="IpcErrorCode.Timeout"/>: the total timeout of the endpoint's resilience pipeline.
    /// </summary>
    /// <value>
    /// The default value is <see langword="null"/>: <c>Resilience:TotalTimeout</c>, whose default depends on the transport
    /// kind (10 seconds for local transports, 30 for network ones, 60 for brokers; see docs/resilience.md). When set, it wins
    /// over <c>Resilience:TotalTimeout</c>. <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> disables the timeout, as
    /// does a value longer than a timer holds (about 49.7 days).
    /// </value>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>The largest <see cref="ConnectTimeout"/> allowed: 1 day.</summary>
    internal static readonly TimeSpan MaxConnectTimeout = TimeSpan.FromDays(1);

    /// <summary>Gets or sets how long a client may wait to reach the server before failing with <see cref="IpcErrorCode.Unavailable"/>.</summary>
    /// <value>The default value is 5 seconds; positive and at most 1 day.</value>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest <see cref="DrainTimeout"/> allowed: 1 day.</summary>
    internal static readonly TimeSpan MaxDrainTimeout = TimeSpan.FromDays(1);

    /// <summary>
    /// Gets or sets how long a server of this endpoint, once it stops, goes on handling the one-way messages it already
    /// accepted (in order, as before) before it reports the rest as not delivered and cancels the token of the handler
    /// still running. The stop's own token (the host's <c>ShutdownTimeout</c>) ends it sooner. Requests and streams are
    /// not waited for: their callers get <see cref="IpcErrorCode.Unavailable"/> at once.
    /// </summary>
    /// <value>The default value is 5 seconds; zero (report them at once) or more, and at most 1 day.</value>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the serializer of this endpoint, overriding <see cref="IpcOptions.Serializer"/>.</summary>
    /// <value>The default value is <see langword="null"/>: the global serializer.</value>
    public string? Serializer { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether a server of this endpoint sends callers the details of its errors (exception
    /// types, messages and stack traces, and its routes with <see cref="IpcErrorCode.NoHandler"/>), overriding
    /// <see cref="IpcOptions.EnableDetailedErrors"/>. For development; it has no effect on a client.
    /// </summary>
    /// <value>The default value is <see langword="null"/>: <see cref="IpcOptions.EnableDetailedErrors"/>.</value>
    public bool? EnableDetailedErrors { get; set; }

    /// <summary>Gets or sets what the endpoint's transport must support; a transport that lacks one fails at start.</summary>
    /// <value>The default value is <see cref="TransportCapabilities.None"/>.</value>
    public TransportCapabilities RequiredCapabilities { get; set; }
}
