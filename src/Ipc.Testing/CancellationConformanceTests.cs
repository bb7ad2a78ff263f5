using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Cancellation that reaches the handler (<see cref="TransportCapabilities.CancellationPropagates"/>): a caller that
/// cancels, or times out, ends its call at once and the handler's token is cancelled.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class CancellationConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.RequestResponse | TransportCapabilities.CancellationPropagates;

    /// <summary>Caller cancellation ends the call promptly with OperationCanceledException and cancels the handler's token.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_CallerCancels_EndsPromptlyAndCancelsHandler()
    {
        var (_, client) = await StartPairAsync();
        using var cts = new CancellationTokenSource();

        var call = client.Requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x", cancellationToken: cts.Token).AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Bound));
        await Probe.HandlerCancelled.Task.WaitAsync(Bound);
    }

    /// <summary>
    /// A call its caller cancels marks its client span Error and tags it, and the client's duration,
    /// <c>error.type</c> <c>System.OperationCanceledException</c>, whatever the transport threw the cancellation as.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_CallerCancels_ClientSpanAndDurationCarryOperationCanceled()
    {
        var (_, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var clientDuration = capture.Histogram(client.Services, "ipc.client.request.duration");
        using var cts = new CancellationTokenSource();

        var call = client.Requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x", cancellationToken: cts.Token).AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Bound));

        var cancelled = TelemetryCapture.RpcTags(EndpointName, ConformanceRoutes.Block).Append(("error.type", typeof(OperationCanceledException).FullName)).ToArray();
        var span = await capture.SpanAsync(System.Diagnostics.ActivityKind.Client, $"{EndpointName}/{ConformanceRoutes.Block}");
        Assert.Equal(System.Diagnostics.ActivityStatusCode.Error, span.Status);
        TelemetryCapture.AssertTags(span, cancelled);
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(clientDuration)), "ipc.client.request.duration", cancelled);
    }

    /// <summary>A handler slower than the timeout gives Timeout (an <see cref="IpcTimeoutException"/>, a <see cref="TimeoutException"/>); time is faked.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_SlowHandler_ThrowsTimeout()
    {
        var time = new FakeTimeProvider();
        var (_, client) = await StartPairAsync(configureClient: e => e.RequestTimeout = TimeSpan.FromSeconds(5), clientTime: time);

        var call = client.Requests.RequestAsync<string, string>(ConformanceRoutes.Block, "x").AsTask();
        await Probe.HandlerStarted.Task.WaitAsync(Bound);
        time.Advance(TimeSpan.FromSeconds(6));

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call.WaitAsync(Bound));
        Assert.IsAssignableFrom<TimeoutException>(ex);
        Assert.True(IpcException.TryGetErrorCode(ex, out var code));
        Assert.Equal(IpcErrorCode.Timeout, code);
        Assert.True(ex.IsTransient);
        await Probe.HandlerCancelled.Task.WaitAsync(Bound);
    }
}
