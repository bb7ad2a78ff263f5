using Polly;

namespace Ipc.Resilience;

/// <summary>
/// The kind of a transport, which picks the resilience defaults. A transport does not declare it: it follows from the
/// capabilities the transport reports for an address, so adapters need nothing more than honest capabilities.
/// </summary>
internal enum TransportKind
{
    /// <summary><see cref="TransportCapabilities.InProcess"/> (in-memory): no connection to lose, so the pipeline is the total timeout alone unless <c>Enabled</c> is set.</summary>
    InProcess,

    /// <summary>Same machine, another process, no broker (named pipes, Unix sockets, shared memory): failures show at once, so fail fast.</summary>
    Local,

    /// <summary><see cref="TransportCapabilities.CrossMachine"/> without <see cref="TransportCapabilities.Durable"/> (TCP, HTTP, gRPC).</summary>
    Network,

    /// <summary><see cref="TransportCapabilities.Durable"/> (AMQP and other brokers): fail-overs take seconds, so wait longer.</summary>
    Broker,
}

/// <summary>The defaults of each <see cref="TransportKind"/>; docs/resilience.md shows the same table.</summary>
internal static class ResilienceDefaults
{
    private static readonly KindDefaults s_local = new(
        TotalTimeout: TimeSpan.FromSeconds(10), AttemptTimeout: TimeSpan.FromSeconds(5),
        MaxRetryAttempts: 3, Delay: TimeSpan.FromMilliseconds(50), MaxDelay: TimeSpan.FromSeconds(1),
        FailureRatio: 0.5, MinimumThroughput: 10, SamplingDuration: TimeSpan.FromSeconds(10), BreakDuration: TimeSpan.FromSeconds(2));

    private static readonly KindDefaults s_network = new(
        TotalTimeout: TimeSpan.FromSeconds(30), AttemptTimeout: TimeSpan.FromSeconds(10),
        MaxRetryAttempts: 3, Delay: TimeSpan.FromSeconds(2), MaxDelay: TimeSpan.FromSeconds(10),
        FailureRatio: 0.1, MinimumThroughput: 100, SamplingDuration: TimeSpan.FromSeconds(30), BreakDuration: TimeSpan.FromSeconds(5));

    private static readonly KindDefaults s_broker = new(
        TotalTimeout: TimeSpan.FromSeconds(60), AttemptTimeout: TimeSpan.FromSeconds(20),
        MaxRetryAttempts: 5, Delay: TimeSpan.FromSeconds(1), MaxDelay: TimeSpan.FromSeconds(15),
        FailureRatio: 0.2, MinimumThroughput: 50, SamplingDuration: TimeSpan.FromSeconds(60), BreakDuration: TimeSpan.FromSeconds(30));

    public static TransportKind KindOf(TransportCapabilities capabilities) =>
        (capabilities & TransportCapabilities.Durable) != 0 ? TransportKind.Broker
        : (capabilities & TransportCapabilities.CrossMachine) != 0 ? TransportKind.Network
        : (capabilities & TransportCapabilities.InProcess) != 0 ? TransportKind.InProcess
        : TransportKind.Local;

    public static TimeSpan TotalTimeout(TransportKind kind) => Of(kind).TotalTimeout;

    public static TimeSpan AttemptTimeout(TransportKind kind) => Of(kind).AttemptTimeout;

    /// <summary>Creates the options of an endpoint of <paramref name="kind"/>, before configuration and code change them.</summary>
    public static IpcResilienceOptions Create(TransportKind kind)
    {
        var defaults = Of(kind);
        var options = new IpcResilienceOptions
        {
            // An in-process call has no connection to lose: it fails when no server was started in the process or when
            // the handler fails, which retries and a breaker rarely help. The standard pipeline stays one setting away
            // (Enabled), with the local numbers below.
            Enabled = kind != TransportKind.InProcess,
        };
        options.Retry.MaxRetryAttempts = defaults.MaxRetryAttempts;
        options.Retry.BackoffType = DelayBackoffType.Exponential;
        options.Retry.UseJitter = true;
        options.Retry.Delay = defaults.Delay;
        options.Retry.MaxDelay = defaults.MaxDelay;
        options.CircuitBreaker.FailureRatio = defaults.FailureRatio;
        options.CircuitBreaker.MinimumThroughput = defaults.MinimumThroughput;
        options.CircuitBreaker.SamplingDuration = defaults.SamplingDuration;
        options.CircuitBreaker.BreakDuration = defaults.BreakDuration;
        return options;
    }

    private static KindDefaults Of(TransportKind kind) => kind switch
    {
        TransportKind.Local or TransportKind.InProcess => s_local,
        TransportKind.Network => s_network,
        _ => s_broker,
    };

    private sealed record KindDefaults(
        TimeSpan TotalTimeout,
        TimeSpan AttemptTimeout,
        int MaxRetryAttempts,
        TimeSpan Delay,
        TimeSpan MaxDelay,
        double FailureRatio,
        int MinimumThroughput,
        TimeSpan SamplingDuration,
        TimeSpan BreakDuration);
}
