using Polly;

namespace Ipc.Resilience;

/// <summary>
/// The kind of a transport, which picks the resilience defaults. A transport does not declare it: it follows from the
/// capabilities the transport reports for an address, so adapters need nothing more than honest capabilities.
/// </summary>
internal enum TransportKind
{
    /// <summary>Same machine, no broker (in-memory, named pipes, Unix sockets, shared memory): failures show at once, so fail fast.</summary>
    Local,

    /// <summary><see cref="TransportCapabilities.CrossMachine"/> without <see cref="TransportCapabilities.Durable"/> (TCP, HTTP, gRPC).</summary>
    Network,

    /// <summary><see cref="TransportCapabilities.Durable"/> (AMQP and other brokers): fail-overs take seconds, so wait longer.</summary>
    Broker,
}

/// <summary>The defaults of each <see cref="TransportKind"/>; docs/resilience.md shows the same table.</summary>
internal static class ResilienceDefaults
{
    public static TransportKind KindOf(TransportCapabilities capabilities) =>
        (capabilities & TransportCapabilities.Durable) != 0 ? TransportKind.Broker
        : (capabilities & TransportCapabilities.CrossMachine) != 0 ? TransportKind.Network
        : TransportKind.Local;

    public static TimeSpan TotalTimeout(TransportKind kind) => kind switch
    {
        TransportKind.Local => TimeSpan.FromSeconds(10),
        TransportKind.Network => TimeSpan.FromSeconds(30),
        _ => TimeSpan.FromSeconds(60),
    };

    public static TimeSpan AttemptTimeout(TransportKind kind) => kind switch
    {
        TransportKind.Local => TimeSpan.FromSeconds(5),
        TransportKind.Network => TimeSpan.FromSeconds(10),
        _ => TimeSpan.FromSeconds(20),
    };

    /// <summary>Creates the options of an endpoint of <paramref name="kind"/>, before configuration and code change them.</summary>
    public static IpcResilienceOptions Create(TransportKind kind)
    {
        var options = new IpcResilienceOptions();
        var retry = options.Retry;
        var breaker = options.CircuitBreaker;
        retry.MaxRetryAttempts = kind == TransportKind.Broker ? 5 : 3;
        retry.BackoffType = DelayBackoffType.Exponential;
        retry.UseJitter = true;
        switch (kind)
        {
            case TransportKind.Local:
                retry.Delay = TimeSpan.FromMilliseconds(50);
                retry.MaxDelay = TimeSpan.FromSeconds(1);
                breaker.FailureRatio = 0.5;
                breaker.MinimumThroughput = 10;
                breaker.SamplingDuration = TimeSpan.FromSeconds(10);
                breaker.BreakDuration = TimeSpan.FromSeconds(2);
                break;
            case TransportKind.Network:
                retry.Delay = TimeSpan.FromSeconds(2);
                retry.MaxDelay = TimeSpan.FromSeconds(10);
                breaker.FailureRatio = 0.1;
                breaker.MinimumThroughput = 100;
                breaker.SamplingDuration = TimeSpan.FromSeconds(30);
                breaker.BreakDuration = TimeSpan.FromSeconds(5);
                break;
            default:
                retry.Delay = TimeSpan.FromSeconds(1);
                retry.MaxDelay = TimeSpan.FromSeconds(15);
                breaker.FailureRatio = 0.2;
                breaker.MinimumThroughput = 50;
                breaker.SamplingDuration = TimeSpan.FromSeconds(60);
                breaker.BreakDuration = TimeSpan.FromSeconds(30);
                break;
        }

        return options;
    }
}
