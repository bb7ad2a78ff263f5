using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Polly.Retry;
using Polly.Simmy;
using Polly.Telemetry;
using Polly.Timeout;

namespace Ipc.Resilience;

/// <summary>The resilience pipeline of one endpoint's client, and what it exposes for health checks.</summary>
internal sealed class EndpointResilience
{
    private readonly bool _idempotent;
    private readonly HashSet<string> _idempotentRoutes;

    // The strategies of each attempt (the attempt timeout, then fault and latency chaos), and whether the attempt timeout is
    // all of them: a call that is not retried once it may have been accepted has no attempt timeout, and then skips them.
    private readonly ResiliencePipeline? _attempt;
    private readonly bool _attemptTimeoutOnly;

    private EndpointResilience(ResiliencePipeline outer, ResiliencePipeline? attempt, bool attemptTimeoutOnly, ResiliencePipeline<IpcMessage>? outcomeChaos, CircuitBreakerStateProvider? circuitBreaker, IpcResilienceOptions options)
    {
        Outer = outer;
        _attempt = attempt;
        _attemptTimeoutOnly = attemptTimeoutOnly;
        Pipeline = attempt is null ? outer : new ResiliencePipelineBuilder().AddPipeline(outer).AddPipeline(attempt).Build();
        OutcomeChaos = outcomeChaos;
        CircuitBreaker = circuitBreaker;
        _idempotent = options.Idempotent;
        _idempotentRoutes = new HashSet<string>(options.IdempotentRoutes, StringComparer.Ordinal);
    }

    /// <summary>Gets the whole pipeline: <see cref="Outer"/>, then the strategies of each attempt. Streams run through it, and apps read it back.</summary>
    public ResiliencePipeline Pipeline { get; }

    /// <summary>
    /// Gets the pipeline around a call: the total timeout, retry and circuit breaker (or the named pipeline). Its callback
    /// runs each attempt through <see cref="RunAttempt"/>.
    /// </summary>
    public ResiliencePipeline Outer { get; }

    /// <summary>Gets the outcome chaos strategy, which wraps the transport's request call only; <see langword="null"/> when off.</summary>
    public ResiliencePipeline<IpcMessage>? OutcomeChaos { get; }

    /// <summary>Gets the state of the standard pipeline's circuit breaker; <see langword="null"/> with a named pipeline.</summary>
    public CircuitBreakerStateProvider? CircuitBreaker { get; }

    /// <summary>
    /// Whether a call may be retried after any transient failure: the call's own <c>IpcCallOptions.Idempotent</c> when set,
    /// otherwise whether the endpoint or the route is marked idempotent.
    /// </summary>
    public bool IsIdempotent(string route, bool? callIdempotent) => callIdempotent ?? (_idempotent || _idempotentRoutes.Contains(route));

    /// <summary>
    /// Runs one attempt of a call inside <see cref="Outer"/>: through the attempt's strategies, or straight to
    /// <paramref name="attempt"/> when the only one is an attempt timeout this call does not have (at most once, see
    /// <see cref="AttemptTimeout"/>), which saves the call a strategy's asynchronous step.
    /// </summary>
    public ValueTask<Outcome<object>> RunAttempt<TState>(Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, ResilienceContext context, TState state) =>
        _attempt is { } strategies && !(_attemptTimeoutOnly && context.Properties.GetValue(IpcResiliencePredicates.RetryOnlyIfNotAccepted, false))
            ? strategies.ExecuteOutcomeAsync(attempt, context, state)
            : attempt(context, state);

    /// <summary>Rents a context for one call; return it with <see cref="ResilienceContextPool.Return"/>.</summary>
    public ResilienceContext RentContext(string route, TimeSpan? callTimeout, bool? idempotent, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(route, cancellationToken);
        if (callTimeout is { } timeout)
        {
            context.Properties.Set(IpcResiliencePredicates.CallTimeout, timeout);
        }

        // At most once: a call that may have reached its handler is retried only when it is idempotent.
        if (!IsIdempotent(route, idempotent))
        {
            context.Properties.Set(IpcResiliencePredicates.RetryOnlyIfNotAccepted, true);
        }

        return context;
    }

    /// <summary>Builds the pipeline of an endpoint from its effective options.</summary>
    public static EndpointResilience Create(
        string endpointName,
        IpcResilienceOptions options,
        TimeSpan? requestTimeout,
        TransportKind kind,
        TimeProvider timeProvider,
        TelemetryOptions telemetry,
        ResiliencePipelineProvider<string>? namedPipelines,
        Action<string>? onCircuitChanged = null,
        Action<OnRetryArguments<object>>? onRetry = null)
    {
        var pollyTelemetry = UsesPollyTelemetry(options, telemetry) ? WithIpcSeverities(telemetry) : null;
        var builder = NewBuilder(endpointName, timeProvider, pollyTelemetry);

        // The strategies of each attempt go into a pipeline of their own, which a call skips when they cannot apply to it
        // (RunAttempt); with Polly's telemetry on they stay in the one pipeline, so that it reports each call once.
        var attempts = pollyTelemetry is null ? NewBuilder(endpointName, timeProvider, null) : builder;
        var hasAttemptTimeout = false;
        CircuitBreakerStateProvider? state = null;
        if (options.PipelineName is { } pipelineName)
        {
            var named = namedPipelines?.GetPipeline(pipelineName)
                ?? throw new InvalidOperationException($"No resilience pipeline named '{pipelineName}' is registered. Register it with services.AddResiliencePipeline(\"{pipelineName}\", ...).");

            // The call's own deadline still bounds the call; everything else is the named pipeline's business.
            builder.AddTimeout(TotalTimeout(requestTimeout ?? Timeout.InfiniteTimeSpan, timeProvider)).AddPipeline(named);
        }
        else
        {
            var total = requestTimeout ?? options.TotalTimeout ?? ResilienceDefaults.TotalTimeout(kind);
            builder.AddTimeout(TotalTimeout(total, timeProvider));
            if (options.Enabled)
            {
                if (options.Retry.MaxRetryAttempts > 0)
                {
                    options.Retry.Name ??= "Retry";
                    builder.AddRetry(onRetry is null ? options.Retry : Reporting(options.Retry, onRetry));
                }

                options.CircuitBreaker.Name ??= "CircuitBreaker";
                options.CircuitBreaker.StateProvider ??= new CircuitBreakerStateProvider();
                state = options.CircuitBreaker.StateProvider;
                builder.AddCircuitBreaker(onCircuitChanged is null ? options.CircuitBreaker : Reporting(options.CircuitBreaker, onCircuitChanged));
                var attempt = EffectiveAttemptTimeout(options, total, kind);
                if (attempt != Timeout.InfiniteTimeSpan)
                {
                    attempts.AddTimeout(AttemptTimeout(attempt, timeProvider));
                    hasAttemptTimeout = true;
                }
            }
        }

        var chaos = options.Chaos;
        if (chaos.Fault.Enabled)
        {
            chaos.Fault.Name ??= "ChaosFault";
            attempts.AddChaosFault(chaos.Fault);
        }

        if (chaos.Latency.Enabled)
        {
            chaos.Latency.Name ??= "ChaosLatency";
            attempts.AddChaosLatency(chaos.Latency);
        }

        ResiliencePipeline<IpcMessage>? outcome = null;
        if (chaos.Outcome.Enabled)
        {
            chaos.Outcome.Name ??= "ChaosOutcome";
            outcome = NewBuilder<IpcMessage>(endpointName, timeProvider, pollyTelemetry).AddChaosOutcome(chaos.Outcome).Build();
        }

        var chaosPerAttempt = chaos.Fault.Enabled || chaos.Latency.Enabled;
        var separate = !ReferenceEquals(attempts, builder) && (hasAttemptTimeout || chaosPerAttempt);
        return new EndpointResilience(builder.Build(), separate ? attempts.Build() : null, hasAttemptTimeout && !chaosPerAttempt, outcome, state, options);
    }

    /// <summary>The attempt timeout in force: an explicit one, or the kind's default when it is shorter than the total timeout.</summary>
    public static TimeSpan EffectiveAttemptTimeout(IpcResilienceOptions options, TimeSpan total, TransportKind kind)
    {
        if (options.AttemptTimeout is { } explicitTimeout)
        {
            return explicitTimeout;
        }

        var byKind = ResilienceDefaults.AttemptTimeout(kind);
        return total == Timeout.InfiniteTimeSpan || byKind < total ? byKind : Timeout.InfiniteTimeSpan;
    }

    /// <summary>
    /// The attempt timeout bounds an attempt so that it can be retried: a call that is not idempotent is not retried after
    /// it, so it is not cut short either and has the whole total timeout (a connection that cannot be made still fails
    /// within the transport's ConnectTimeout, as not accepted, and is retried). Its deadline is sent with the request.
    /// </summary>
    private static TimeoutStrategyOptions AttemptTimeout(TimeSpan timeout, TimeProvider timeProvider) => new()
    {
        Name = "AttemptTimeout",
        TimeoutGenerator = args => new ValueTask<TimeSpan>(CallDeadlines.StartAttempt(
            args.Context,
            args.Context.Properties.GetValue(IpcResiliencePredicates.RetryOnlyIfNotAccepted, false) ? Timeout.InfiniteTimeSpan : timeout,
            timeProvider)),
    };

    private static TimeoutStrategyOptions TotalTimeout(TimeSpan timeout, TimeProvider timeProvider) => new()
    {
        Name = "TotalTimeout",

        // A call's IpcCallOptions.Timeout replaces the endpoint's; an infinite timeout is not applied. Its deadline is sent with the request.
        TimeoutGenerator = args => new ValueTask<TimeSpan>(
            CallDeadlines.StartTotal(args.Context, args.Context.Properties.GetValue(IpcResiliencePredicates.CallTimeout, timeout), timeProvider)),
    };

    /// <summary>
    /// Whether the endpoint's pipelines report to Polly's telemetry: as <see cref="IpcResilienceOptions.PollyTelemetry"/> says,
    /// and when it is not set, only when the app gave <see cref="TelemetryOptions"/> listeners or metering enrichers of its
    /// own. Polly reports every execution and every attempt of a pipeline with telemetry, which costs each call more than
    /// all of its strategies together do once completed asynchronously; Ipc reports retries, circuit breaker transitions
    /// and failed calls itself, from callbacks that run only when they happen.
    /// </summary>
    public static bool UsesPollyTelemetry(IpcResilienceOptions options, TelemetryOptions telemetry) =>
        options.PollyTelemetry ?? (telemetry.TelemetryListeners.Count > 0 || telemetry.MeteringEnrichers.Count > 0);

    /// <summary>
    /// The app's telemetry options with Ipc's severities: the events of every call (an attempt, a retry, a timeout) are
    /// Debug, so a call that succeeds, retried or not, logs nothing at the default levels, and an expected transient
    /// failure logs no stack trace at Warning; the failure reaches the caller as an exception. The circuit breaker's
    /// events keep Polly's severities. A <see cref="TelemetryOptions.SeverityProvider"/> of the app's wins.
    /// </summary>
    public static TelemetryOptions WithIpcSeverities(TelemetryOptions telemetry) =>
        new(telemetry) { SeverityProvider = telemetry.SeverityProvider ?? s_severity };

    private static readonly Func<SeverityProviderArguments, ResilienceEventSeverity> s_severity = static args => args.Event.EventName switch
    {
        "ExecutionAttempt" or "OnRetry" or "OnTimeout" => ResilienceEventSeverity.Debug,
        "PipelineExecuted" when args.Event.Severity <= ResilienceEventSeverity.Information => ResilienceEventSeverity.Debug,
        _ => args.Event.Severity,
    };

    private static ResiliencePipelineBuilder NewBuilder(string endpointName, TimeProvider timeProvider, TelemetryOptions? telemetry) =>
        Configure(new ResiliencePipelineBuilder(), endpointName, timeProvider, telemetry);

    private static ResiliencePipelineBuilder<T> NewBuilder<T>(string endpointName, TimeProvider timeProvider, TelemetryOptions? telemetry) =>
        Configure(new ResiliencePipelineBuilder<T>(), endpointName, timeProvider, telemetry);

    private static TBuilder Configure<TBuilder>(TBuilder builder, string endpointName, TimeProvider timeProvider, TelemetryOptions? telemetry)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        builder.Name = "Ipc";
        builder.InstanceName = endpointName;
        builder.TimeProvider = timeProvider;
        if (telemetry is not null)
        {
            builder.ConfigureTelemetry(telemetry);
        }

        return builder;
    }

    /// <summary>
    /// The retry options with each retry reported to the endpoint's telemetry before the app's own callback runs. A copy:
    /// the app's options stay as they were. The callback runs only when a call is retried.
    /// </summary>
    private static RetryStrategyOptions Reporting(RetryStrategyOptions retry, Action<OnRetryArguments<object>> retried)
    {
        var own = retry.OnRetry;
        return new RetryStrategyOptions
        {
            Name = retry.Name,
            ShouldHandle = retry.ShouldHandle,
            MaxRetryAttempts = retry.MaxRetryAttempts,
            BackoffType = retry.BackoffType,
            UseJitter = retry.UseJitter,
            Delay = retry.Delay,
            MaxDelay = retry.MaxDelay,
            DelayGenerator = retry.DelayGenerator,
            Randomizer = retry.Randomizer,
            OnRetry = args =>
            {
                retried(args);
                return own?.Invoke(args) ?? default;
            },
        };
    }

    /// <summary>
    /// The breaker's options with its state changes (<c>open</c>, <c>half_open</c>, <c>closed</c>) reported to the endpoint's
    /// telemetry before the app's own callbacks run. A copy: the app's options stay as they were. The breaker's callbacks run
    /// only on a change, where a telemetry listener would be called for every event of every call.
    /// </summary>
    private static CircuitBreakerStrategyOptions Reporting(CircuitBreakerStrategyOptions breaker, Action<string> changed)
    {
        var opened = breaker.OnOpened;
        var closed = breaker.OnClosed;
        var halfOpened = breaker.OnHalfOpened;
        return new CircuitBreakerStrategyOptions
        {
            Name = breaker.Name,
            FailureRatio = breaker.FailureRatio,
            MinimumThroughput = breaker.MinimumThroughput,
            SamplingDuration = breaker.SamplingDuration,
            BreakDuration = breaker.BreakDuration,
            BreakDurationGenerator = breaker.BreakDurationGenerator,
            ShouldHandle = breaker.ShouldHandle,
            ManualControl = breaker.ManualControl,
            StateProvider = breaker.StateProvider,
            OnOpened = args =>
            {
                changed("open");
                return opened?.Invoke(args) ?? default;
            },
            OnClosed = args =>
            {
                changed("closed");
                return closed?.Invoke(args) ?? default;
            },
            OnHalfOpened = args =>
            {
                changed("half_open");
                return halfOpened?.Invoke(args) ?? default;
            },
        };
    }
}
