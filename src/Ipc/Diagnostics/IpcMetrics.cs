using System.Diagnostics.Metrics;

namespace Ipc.Diagnostics;

/// <summary>
/// The library's instruments, on one <see cref="Meter"/> named <see cref="IpcDiagnostics.MeterName"/> that the
/// container's <see cref="IMeterFactory"/> creates, so an app or a test collects the meters of its own container.
/// </summary>
internal sealed class IpcMetrics : IDisposable
{
    private static IpcMetrics? s_shared;
    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public IpcMetrics(IMeterFactory? factory)
    {
        var version = typeof(IpcMetrics).Assembly.GetName().Version?.ToString();
        _ownsMeter = factory is null;
        _meter = factory?.Create(new MeterOptions(IpcDiagnostics.MeterName) { Version = version }) ?? new Meter(IpcDiagnostics.MeterName, version);

        ClientRequestDuration = Duration("ipc.client.request.duration", "Duration of request/response calls made by clients, until the response or the failure.");
        ClientStreamDuration = Duration("ipc.client.stream.duration", "Duration of stream calls made by clients, until the last item was read or the stream failed or was disposed.");
        ClientSendDuration = Duration("ipc.client.send.duration", "Duration of sending one-way and published messages and batches, until the transport accepted them.");
        ServerRequestDuration = Duration("ipc.server.request.duration", "Duration of request/response calls handled by servers.");
        ServerStreamDuration = Duration("ipc.server.stream.duration", "Duration of stream calls handled by servers, until the last item was produced or the stream failed.");
        ServerProcessDuration = Duration("ipc.server.process.duration", "Duration of handling one-way and published messages on servers.");

        ClientSentMessages = _meter.CreateCounter<long>("ipc.client.sent.messages", "{message}", "Messages clients sent: requests, one-way and published messages.");
        ClientSentBytes = _meter.CreateCounter<long>("ipc.client.sent.bytes", "By", "Body bytes of the messages clients sent.");
        ClientReceivedMessages = _meter.CreateCounter<long>("ipc.client.received.messages", "{message}", "Responses and stream items clients received.");
        ClientReceivedBytes = _meter.CreateCounter<long>("ipc.client.received.bytes", "By", "Body bytes of the responses and stream items clients received.");
        ServerReceivedMessages = _meter.CreateCounter<long>("ipc.server.received.messages", "{message}", "Messages servers received for their handlers.");
        ServerReceivedBytes = _meter.CreateCounter<long>("ipc.server.received.bytes", "By", "Body bytes of the messages servers received for their handlers.");
        ServerSentMessages = _meter.CreateCounter<long>("ipc.server.sent.messages", "{message}", "Responses and stream items servers sent.");
        ServerSentBytes = _meter.CreateCounter<long>("ipc.server.sent.bytes", "By", "Body bytes of the responses and stream items servers sent.");
        ServerMessageFailed = _meter.CreateCounter<long>("ipc.server.message.failed", "{message}", "Accepted one-way messages that could not be delivered to a handler.");

        ActiveConnections = _meter.CreateUpDownCounter<long>("ipc.connection.active", "{connection}", "Open connections of connection transports.");
        ConnectionDuration = Duration("ipc.connection.duration", "How long connections of connection transports stayed open.");
        Reconnects = _meter.CreateCounter<long>("ipc.client.reconnects", "{connection}", "Connections a client opened again in place of one it lost.");
        ReaderReplacements = _meter.CreateCounter<long>("ipc.connection.reader.replacements", "{thread}", "Reader threads replaced because work held a connection's reader for too long.");
        Retries = _meter.CreateCounter<long>("ipc.client.retries", "{retry}", "Calls of client endpoints retried after a transient failure, tagged with the failure's error.type.");
        CircuitBreakerTransitions = _meter.CreateCounter<long>("ipc.client.circuit_breaker.transitions", "{transition}", "Circuit breaker state changes of client endpoints, tagged with the new state.");
    }

    /// <summary>Gets the instruments for transports given a context without a container that registered them.</summary>
    public static IpcMetrics Shared => LazyInitializer.EnsureInitialized(ref s_shared, static () => new IpcMetrics(null));

    public Histogram<double> ClientRequestDuration { get; }

    public Histogram<double> ClientStreamDuration { get; }

    public Histogram<double> ClientSendDuration { get; }

    public Histogram<double> ServerRequestDuration { get; }

    public Histogram<double> ServerStreamDuration { get; }

    public Histogram<double> ServerProcessDuration { get; }

    public Counter<long> ClientSentMessages { get; }

    public Counter<long> ClientSentBytes { get; }

    public Counter<long> ClientReceivedMessages { get; }

    public Counter<long> ClientReceivedBytes { get; }

    public Counter<long> ServerReceivedMessages { get; }

    public Counter<long> ServerReceivedBytes { get; }

    public Counter<long> ServerSentMessages { get; }

    public Counter<long> ServerSentBytes { get; }

    public Counter<long> ServerMessageFailed { get; }

    public UpDownCounter<long> ActiveConnections { get; }

    public Histogram<double> ConnectionDuration { get; }

    public Counter<long> Reconnects { get; }

    public Counter<long> ReaderReplacements { get; }

    public Counter<long> CircuitBreakerTransitions { get; }

    public Counter<long> Retries { get; }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private Histogram<double> Duration(string name, string description) =>
        _meter.CreateHistogram(name, "s", description, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = s_buckets });

    // OpenTelemetry's recommended boundaries for durations in seconds, with finer steps below a millisecond for local transports.
    private static readonly double[] s_buckets = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
}
