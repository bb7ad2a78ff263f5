using System.Runtime.CompilerServices;
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
    private readonly TimeSpan _total; // the total timeout of a call that sets none of its own

    // The standard retry and circuit breaker, each a pipeline of its own when Polly's telemetry is off (see RunAttempt);
    // otherwise they are part of Outer. Whether the retry's rules are Ipc's, which never retry a call that succeeded.
    private readonly ResiliencePipeline? _retry;
    private readonly ResiliencePipeline? _breaker;
    private readonly bool _retrySkipsSuccess;

    private EndpointResilience(Strategies strategies, ResiliencePipeline<IpcMessage>? outcomeChaos, CircuitBreakerStateProvider? circuitBreaker, IpcResilienceOptions options)
    {
        Outer = strategies.Outer;
        _attempt = strategies.Attempt;
        _attemptTimeoutOnly = strategies.AttemptTimeoutOnly;
        _total = strategies.Total;
        _retry = strategies.Retry;
        _breaker = strategies.Breaker;
        _retrySkipsSuccess = ReferenceEquals(options.Retry.ShouldHandle, IpcRetryStrategyOptions.DefaultShouldHandle);
        Pipeline = Compose(Outer, _retry, _breaker, _attempt);
        OutcomeChaos = outcomeChaos;
        CircuitBreaker = circuitBreaker;
        _idempotent = options.Idempotent;
        _idempotentRoutes = new HashSet<string>(options.IdempotentRoutes, StringComparer.Ordinal);
    }

    /// <summary>Gets the total timeout of a call: its own (<c>IpcCallOptions.Timeout</c>), or the endpoint's.</summary>
    public TimeSpan TotalTimeoutOf(TimeSpan? callTimeout) => callTimeout ?? _total;

    /// <summary>Gets the whole pipeline: <see cref="Outer"/>, then the strategies of each attempt. Streams run through it, and apps read it back.</summary>
    public ResiliencePipeline Pipeline { get; }

    /// <summary>
    /// Gets the pipeline around a call: the total timeout, then (with Polly's telemetry on) retry and circuit breaker, or the
    /// named pipeline. Its callback runs the rest of the call through <see cref="RunAttempt"/>.
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
    /// Runs the part of a call inside <see cref="Outer"/>: the retry and circuit breaker when they are pipelines of their own,
    /// then each attempt through <see cref="RunOneAttempt"/>.
    /// </summary>
    /// <remarks>
    /// Each Polly strategy around an attempt that completes later costs the call an asynchronous step of its own (an
    /// allocated state machine, a continuation). So, with the strategies the same:
    /// <list type="bullet">
    /// <item>While the circuit is closed, an attempt runs outside the breaker, and its outcome then goes through the breaker,
    /// which counts it as if the attempt had run inside. Otherwise (open, half-open, isolated) the attempt runs inside the
    /// breaker, which refuses it or lets it probe. An outcome that arrives once the circuit is no longer closed is not
    /// counted: Polly would count it without a change of state, and reset the counts when the circuit closes.</item>
    /// <item>The first attempt runs before the retry. With Ipc's retry rules a call that succeeded is done; otherwise the
    /// retry starts with the first attempt's outcome as its own first (its delays, callbacks and count of attempts as
    /// ever) and runs the next attempts itself.</item>
    /// </list>
    /// </remarks>
    public ValueTask<Outcome<object>> RunAttempt<TState>(Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, ResilienceContext context, TState state)
    {
        if (_retry is null && _breaker is null)
        {
            return RunOneAttempt(attempt, context, state);
        }

        if (_retry is not null && !_retrySkipsSuccess)
        {
            return Retry(default, attempt, context, state); // rules of the app's own may retry a success: every outcome goes to the retry
        }

        var first = ThroughBreaker(attempt, context, state, out var record);
        if (!first.IsCompletedSuccessfully)
        {
            return CompleteFirstAsync(first, record, attempt, context, state);
        }

        var outcome = first.Result;
        if (record && Record(outcome, context) is { IsCompletedSuccessfully: false } recording)
        {
            return CompleteFirstAsync(AfterAsync(recording, outcome), record: false, attempt, context, state);
        }

        return outcome.Exception is null || _retry is null ? new(outcome) : Retry(outcome, attempt, context, state);
    }

    /// <summary>
    /// Runs one attempt: through the attempt's strategies, or straight to <paramref name="attempt"/> when the only one is an
    /// attempt timeout this call does not have (at most once, see <see cref="AttemptTimeout"/>), which saves the call a
    /// strategy's asynchronous step.
    /// </summary>
    private ValueTask<Outcome<object>> RunOneAttempt<TState>(Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, ResilienceContext context, TState state) =>
        _attempt is { } strategies && !(_attemptTimeoutOnly && context.Properties.GetValue(IpcResiliencePredicates.RetryOnlyIfNotAccepted, false))
            ? strategies.ExecuteOutcomeAsync(attempt, context, state)
            : attempt(context, state);

    /// <summary>One attempt and the circuit breaker: outside it while it is closed (<paramref name="record"/>: its outcome goes through the breaker after), inside it otherwise.</summary>
    private ValueTask<Outcome<object>> ThroughBreaker<TState>(Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, ResilienceContext context, TState state, out bool record)
    {
        if (_breaker is not { } breaker)
        {
            record = false;
            return RunOneAttempt(attempt, context, state);
        }

        if (CircuitBreaker!.CircuitState == CircuitState.Closed)
        {
            record = true;
            return RunOneAttempt(attempt, context, state);
        }

        record = false;
        return breaker.ExecuteOutcomeAsync(static (ctx, s) => s.Self.RunOneAttempt(s.Attempt, ctx, s.State), context, (Self: this, Attempt: attempt, State: state));
    }

    /// <summary>Counts an outcome in the circuit breaker, as if the attempt had run inside it, while the circuit is still closed.</summary>
    private ValueTask<Outcome<object>> Record(Outcome<object> outcome, ResilienceContext context)
    {
        if (CircuitBreaker!.CircuitState != CircuitState.Closed)
        {
            return default;
        }

        // Polly runs nothing for a context that is cancelled: an attempt ended by the call's timeout is counted through a
        // context of its own, as the failure it is; one its caller cancelled is not counted.
        if (context.CancellationToken.IsCancellationRequested)
        {
            return IpcResiliencePredicates.IsBreakerFailure(outcome.Exception, context) ? RecordTimedOutAsync(outcome, context.OperationKey) : default;
        }

        return _breaker!.ExecuteOutcomeAsync(static (_, outcome) => new ValueTask<Outcome<object>>(outcome), context, outcome);
    }

    private async ValueTask<Outcome<object>> RecordTimedOutAsync(Outcome<object> outcome, string? operationKey)
    {
        var failure = IpcResiliencePredicates.IsTransient(outcome.Exception)
            ? outcome
            : Outcome.FromException<object>(new TimeoutRejectedException("The call's timeout ended the attempt.", outcome.Exception!));
        var context = ResilienceContextPool.Shared.Get(operationKey, CancellationToken.None);
        try
        {
            return await _breaker!.ExecuteOutcomeAsync(static (_, failure) => new ValueTask<Outcome<object>>(failure), context, failure).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Outcome<object>> AfterAsync(ValueTask<Outcome<object>> recording, Outcome<object> outcome)
    {
        await recording.ConfigureAwait(false); // the breaker's callbacks of a change of state
        return outcome;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome<object>> CompleteFirstAsync<TState>(ValueTask<Outcome<object>> first, bool record, Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, ResilienceContext context, TState state)
    {
        var outcome = await first.ConfigureAwait(false);
        if (record)
        {
            await Record(outcome, context).ConfigureAwait(false);
        }

        return outcome.Exception is null || _retry is null ? outcome : await Retry(outcome, attempt, context, state).ConfigureAwait(false);
    }

    /// <summary>The retry, from the first attempt's outcome (<paramref name="first"/>) when there is one, or from the start.</summary>
    private ValueTask<Outcome<object>> Retry<TState>(Outcome<object>? first, Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, ResilienceContext context, TState state) =>
        _retry!.ExecuteOutcomeAsync(static (ctx, attempts) => attempts.NextAsync(ctx), context, new Attempts<TState>(this, first, attempt, state));

    /// <summary>The attempts the retry runs: the first one's outcome once, when it ran already, then new attempts.</summary>
    private sealed class Attempts<TState>(EndpointResilience owner, Outcome<object>? first, Func<ResilienceContext, TState, ValueTask<Outcome<object>>> attempt, TState state)
    {
        private Outcome<object>? _first = first;

        public ValueTask<Outcome<object>> NextAsync(ResilienceContext context)
        {
            if (_first is { } replayed)
            {
                _first = null;
                return new(replayed);
            }

            var next = owner.ThroughBreaker(attempt, context, state, out var record);
            if (!record)
            {
                return next;
            }

            if (!next.IsCompletedSuccessfully)
            {
                return RecordAsync(next, context);
            }

            var outcome = next.Result;
            var recording = owner.Record(outcome, context);
            return recording.IsCompletedSuccessfully ? new(outcome) : AfterAsync(recording, outcome);
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<Outcome<object>> RecordAsync(ValueTask<Outcome<object>> pending, ResilienceContext context)
        {
            var outcome = await pending.ConfigureAwait(false);
            await owner.Record(outcome, context).ConfigureAwait(false);
            return outcome;
        }
    }

    /// <summary>Rents a context for one call; return it with <see cref="ResilienceContextPool.Return"/>.</summary>
    public ResilienceContext RentContext(string route, TimeSpan? callTimeout, bool? idempotent, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(route, cancellationToken);
        context.Properties.Set(IpcResiliencePredicates.CallerCancellation, IpcResiliencePredicates.Caller(cancellationToken));
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
        ResiliencePipeline? retry = null;
        ResiliencePipeline? breaker = null;
        var hasAttemptTimeout = false;
        TimeSpan total;
        CircuitBreakerStateProvider? state = null;
        if (options.PipelineName is { } pipelineName)
        {
            var named = namedPipelines?.GetPipeline(pipelineName)
                ?? throw new InvalidOperationException($"No resilience pipeline named '{pipelineName}' is registered. Register it with services.AddResiliencePipeline(\"{pipelineName}\", ...).");

            // The call's own deadline still bounds the call; everything else is the named pipeline's business.
            total = requestTimeout ?? Timeout.InfiniteTimeSpan;
            builder.AddTimeout(TotalTimeout(total)).AddPipeline(named);
        }
        else
        {
            total = requestTimeout ?? options.TotalTimeout ?? ResilienceDefaults.TotalTimeout(kind);
            builder.AddTimeout(TotalTimeout(total));
            if (options.Enabled)
            {
                // Without Polly's telemetry the retry and the breaker are pipelines of their own, which RunAttempt enters
                // only when a call needs them to wait on its attempt; with it, they stay in the one pipeline it reports.
                if (options.Retry.MaxRetryAttempts > 0)
                {
                    options.Retry.Name ??= "Retry";
                    var retryOptions = onRetry is null ? options.Retry : Reporting(options.Retry, onRetry);
                    if (pollyTelemetry is null)
                    {
                        retry = NewBuilder(endpointName, timeProvider, null).AddRetry(retryOptions).Build();
                    }
                    else
                    {
                        builder.AddRetry(retryOptions);
                    }
                }

                options.CircuitBreaker.Name ??= "CircuitBreaker";
                options.CircuitBreaker.StateProvider ??= new CircuitBreakerStateProvider();
                state = options.CircuitBreaker.StateProvider;
                var breakerOptions = onCircuitChanged is null ? options.CircuitBreaker : Reporting(options.CircuitBreaker, onCircuitChanged);
                if (pollyTelemetry is null)
                {
                    breaker = NewBuilder(endpointName, timeProvider, null).AddCircuitBreaker(breakerOptions).Build();
                }
                else
                {
                    builder.AddCircuitBreaker(breakerOptions);
                }

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
            attempts.AddChaosFault(chaos.Fault);
        }

        if (chaos.Latency.Enabled)
        {
            attempts.AddChaosLatency(chaos.Latency);
        }

        ResiliencePipeline<IpcMessage>? outcome = null;
        if (chaos.Outcome.Enabled)
        {
            outcome = NewBuilder<IpcMessage>(endpointName, timeProvider, pollyTelemetry).AddChaosOutcome(chaos.Outcome).Build();
        }

        var chaosPerAttempt = chaos.Fault.Enabled || chaos.Latency.Enabled;
        var separate = !ReferenceEquals(attempts, builder) && (hasAttemptTimeout || chaosPerAttempt);
        var strategies = new Strategies(builder.Build(), retry, breaker, separate ? attempts.Build() : null, hasAttemptTimeout && !chaosPerAttempt, total);
        return new EndpointResilience(strategies, outcome, state, options);
    }

    /// <summary>The whole pipeline, as the pipelines a call runs through compose it.</summary>
    private static ResiliencePipeline Compose(ResiliencePipeline outer, params ResiliencePipeline?[] inner)
    {
        if (inner.All(p => p is null))
        {
            return outer;
        }

        var builder = new ResiliencePipelineBuilder().AddPipeline(outer);
        foreach (var pipeline in inner)
        {
            if (pipeline is not null)
            {
                builder.AddPipeline(pipeline);
            }
        }

        return builder.Build();
    }

    /// <summary>The pipelines of an endpoint: around the call, the retry and breaker when apart, and around each attempt.</summary>
    private sealed record Strategies(ResiliencePipeline Outer, ResiliencePipeline? Retry, ResiliencePipeline? Breaker, ResiliencePipeline? Attempt, bool AttemptTimeoutOnly, TimeSpan Total);

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

    /// <summary>The longest timeout a timer holds (<see cref="uint.MaxValue"/> - 1 ms, about 49.7 days); Polly's timeout throws for a longer one.</summary>
    private static readonly TimeSpan s_longestTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private static TimeoutStrategyOptions TotalTimeout(TimeSpan timeout) => new()
    {
        Name = "TotalTimeout",

        // A call's IpcCallOptions.Timeout replaces the endpoint's (TotalTimeoutOf); an infinite timeout is not applied, nor
        // one longer than a timer holds (a RequestTimeout or call timeout of 60 days), which bounds nothing a process sees.
        // The client takes its deadline as the call starts, and sends it with the request.
        TimeoutGenerator = args =>
        {
            var total = args.Context.Properties.GetValue(IpcResiliencePredicates.CallTimeout, timeout);
            return new ValueTask<TimeSpan>(total > s_longestTimer ? Timeout.InfiniteTimeSpan : total);
        },
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
