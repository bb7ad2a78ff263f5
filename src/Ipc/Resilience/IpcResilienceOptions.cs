namespace Ipc;

/// <summary>
/// The resilience settings of an endpoint: the standard pipeline every call runs through (total timeout, retry, circuit
/// breaker, attempt timeout, outermost first), or the name of a pipeline of your own, plus fault injection for tests.
/// </summary>
/// <remarks>
/// <para>Bound from <c>Ipc:Resilience</c> for every endpoint and then from <c>Ipc:Endpoints:&lt;name&gt;:Resilience</c>,
/// key by key, so an endpoint overrides only what it sets; code (<c>ConfigureResilience</c>) runs after the configuration
/// of the same level. Before either, the defaults of the endpoint's transport kind (local, network or broker) are applied;
/// docs/resilience.md lists them.</para>
/// <para>Options are validated when the application starts; a bad value fails with a message naming its key.</para>
/// </remarks>
public sealed class IpcResilienceOptions
{
    /// <summary>
    /// Gets or sets the name of a pipeline registered with Polly's <c>services.AddResiliencePipeline(name, ...)</c> to use
    /// instead of the standard one.
    /// </summary>
    /// <value>
    /// The default value is <see langword="null"/>: the standard pipeline built from the other settings. When set, those
    /// settings (except <see cref="Chaos"/>, <see cref="Idempotent"/> and <see cref="IdempotentRoutes"/>) are not used; the endpoint's <c>RequestTimeout</c>
    /// and a call's <c>IpcCallOptions.Timeout</c> still bound the whole call.
    /// </value>
    public string? PipelineName { get; set; }

    /// <summary>Gets or sets a value indicating whether the standard pipeline retries and breaks the circuit.</summary>
    /// <value>
    /// The default value is <see langword="true"/>, except for in-process transports (<c>inmemory://</c>), where it is
    /// <see langword="false"/>. <see langword="false"/> trims the standard pipeline to its total timeout: no retry, no
    /// circuit breaker, no attempt timeout (chaos, when switched on, still applies). An in-process call has no connection
    /// to lose, so those would buy nothing there; set it to <see langword="true"/> to run the full pipeline over
    /// <c>inmemory://</c>, for example to test your retry settings in unit tests.
    /// </value>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets how long a call may take in all, retries and their delays included.</summary>
    /// <value>
    /// The default value is <see langword="null"/>: the transport kind's default (10 seconds local, 30 network, 60 broker).
    /// The endpoint's <c>RequestTimeout</c>, when set, wins over it, and a call's <c>IpcCallOptions.Timeout</c> over both.
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables it. Between 10 ms and 24 hours.
    /// </value>
    public TimeSpan? TotalTimeout { get; set; }

    /// <summary>
    /// Gets or sets how long one attempt of an idempotent call may take before it is abandoned and retried, if retries
    /// remain. Calls that are not idempotent are not retried after it, so they are bounded by the total timeout alone.
    /// </summary>
    /// <value>
    /// The default value is <see langword="null"/>: the transport kind's default (5 seconds local, 10 network, 20 broker),
    /// dropped when it is not shorter than the total timeout. A value set explicitly must be shorter than the total timeout.
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables it.
    /// </value>
    public TimeSpan? AttemptTimeout { get; set; }

    /// <summary>Gets or sets the retry strategy: how many times a transient failure is retried, and how long to wait between tries.</summary>
    /// <value>The transport kind's defaults. <c>MaxRetryAttempts = 0</c> disables retries.</value>
    public IpcRetryStrategyOptions Retry { get; set; } = new();

    /// <summary>Gets or sets the circuit breaker of the endpoint, which fails calls at once with <see cref="IpcErrorCode.CircuitOpen"/> while open.</summary>
    /// <value>The transport kind's defaults.</value>
    public IpcCircuitBreakerStrategyOptions CircuitBreaker { get; set; } = new();

    /// <summary>
    /// Gets or sets a value indicating whether every handler of the endpoint is idempotent, so that any call (request,
    /// stream or one-way message) may be retried after any transient failure, even when it may already have reached its
    /// handler.
    /// </summary>
    /// <value>
    /// The default value is <see langword="false"/>: calls run at most once. A call is retried only when the transport
    /// reports that it never reached the server (<see cref="IpcException.NotAccepted"/>); after a lost connection or a
    /// timeout it fails, and <see cref="AttemptTimeout"/> does not cut it short. <see cref="IdempotentRoutes"/> marks
    /// single routes, and <c>IpcCallOptions.Idempotent</c> a single call, overriding both.
    /// </value>
    public bool Idempotent { get; set; }

    /// <summary>
    /// Gets the routes (and published topics) whose handlers are idempotent, so their calls may be retried after any
    /// transient failure, as with <see cref="Idempotent"/> for the whole endpoint.
    /// </summary>
    /// <value>
    /// The default value is an empty set. In configuration a list, such as
    /// <c>"IdempotentRoutes": [ "get-price", "add" ]</c>; lists of <c>Ipc:Resilience</c> and of the endpoint add up.
    /// Route names are case-sensitive.
    /// </value>
    public ISet<string> IdempotentRoutes { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Gets or sets a value indicating whether the endpoint's pipeline reports to Polly's telemetry: a log event (category
    /// <c>Polly</c>) and metrics (the <c>Polly</c> meter) for every execution and attempt, and the listeners and enrichers
    /// of Polly's <c>TelemetryOptions</c>.
    /// </summary>
    /// <value>
    /// The default value is <see langword="null"/>: on when the app added <c>TelemetryListeners</c> or
    /// <c>MeteringEnrichers</c> to Polly's <c>TelemetryOptions</c>, off otherwise. Either way Ipc reports retries
    /// (<c>ipc.client.retries</c>), circuit breaker transitions and failed calls in its own logs and metrics. Polly's
    /// telemetry reports every call, even one that succeeds at once, and costs it about as much as the standard
    /// pipeline's strategies together; turn it on to see each attempt, or to feed your own Polly listeners.
    /// </value>
    public bool? PollyTelemetry { get; set; }

    /// <summary>Gets or sets the fault injection (Polly's chaos strategies) for an application's own tests; all off by default.</summary>
    public IpcChaosOptions Chaos { get; set; } = new();
}
