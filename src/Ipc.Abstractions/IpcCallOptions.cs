namespace Ipc;

/// <summary>Per-call settings. Every property is optional; unset ones come from the endpoint's options.</summary>
public sealed class IpcCallOptions
{
    /// <summary>Gets the timeout of this call in all (retries included), overriding the endpoint's <c>RequestTimeout</c> and <c>Resilience:TotalTimeout</c>.</summary>
    /// <remarks>
    /// A stream call is bounded by it until its first item arrives, as by the endpoint's timeouts.
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> means no timeout, as does a value longer than a timer holds
    /// (about 49.7 days); zero or any other negative value leaves the call no time, and it fails at once with
    /// <see cref="IpcTimeoutException"/>, unsent.
    /// </remarks>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Gets the correlation id to send. By default the id of the message being handled (inside a handler) or a new one.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Gets the message id to send. By default a new one.</summary>
    public string? MessageId { get; init; }

    /// <summary>Gets headers to send with the message.</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <summary>
    /// Gets a value indicating whether this call's handler is idempotent, so the call may be retried after any transient
    /// failure (an attempt timeout, a lost connection), not only when the transport reports that it never reached the server.
    /// </summary>
    /// <value>
    /// The default value is <see langword="null"/>: the endpoint's setting (<c>Resilience:Idempotent</c>, or the route in
    /// <c>Resilience:IdempotentRoutes</c>). <see langword="false"/> makes a call at most once on an idempotent endpoint.
    /// </value>
    public bool? Idempotent { get; init; }
}
