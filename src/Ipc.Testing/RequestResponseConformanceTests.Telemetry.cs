using System.Diagnostics;
using Xunit;

namespace Ipc.Testing;

/// <summary>Telemetry: a call emits a client and a server span and the duration of each side, tagged by OpenTelemetry's RPC conventions.</summary>
public abstract partial class RequestResponseConformanceTests<TTransport>
{
    /// <summary>
    /// A request emits a client span and a server span of the same trace (the server's the child of the client's), and the
    /// client's and the server's duration histograms, all tagged with <c>rpc.*</c>, <c>server.address</c> and
    /// <c>network.transport</c>.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_Observed_EmitsClientAndServerSpansAndDurations()
    {
        var (server, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var clientDuration = capture.Histogram(client.Services, "ipc.client.request.duration");
        var serverDuration = capture.Histogram(server.Services, "ipc.server.request.duration");

        await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(Bound);

        var name = $"{EndpointName}/{ConformanceRoutes.Add}";
        var clientSpan = await capture.SpanAsync(ActivityKind.Client, name);
        var serverSpan = await capture.SpanAsync(ActivityKind.Server, name);
        Assert.Equal(clientSpan.SpanId, serverSpan.ParentSpanId);
        foreach (var span in new[] { clientSpan, serverSpan })
        {
            Assert.Equal(ActivityStatusCode.Unset, span.Status);
            Assert.Null(span.GetTagItem("error.type"));
            TelemetryCapture.AssertTags(span, RpcTags(ConformanceRoutes.Add));
        }

        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(clientDuration)), "ipc.client.request.duration", RpcTags(ConformanceRoutes.Add));
        var handled = Assert.Single(await TelemetryCapture.MeasurementsAsync(serverDuration));
        TelemetryCapture.AssertTags(handled, "ipc.server.request.duration", RpcTags(ConformanceRoutes.Add));
        Assert.False(handled.Tags.ContainsKey("error.type"));
    }

    /// <summary>A request whose handler fails marks both spans Error with <c>error.type</c>, and both durations carry it.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HandlerFails_SpansAndDurationsCarryErrorType()
    {
        var (server, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();
        var clientDuration = capture.Histogram(client.Services, "ipc.client.request.duration");
        var serverDuration = capture.Histogram(server.Services, "ipc.server.request.duration");

        await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>(ConformanceRoutes.Fail, "x").AsTask().WaitAsync(Bound));

        var name = $"{EndpointName}/{ConformanceRoutes.Fail}";
        var failed = RpcTags(ConformanceRoutes.Fail).Append(("error.type", nameof(IpcErrorCode.RemoteError))).ToArray();
        foreach (var span in new[] { await capture.SpanAsync(ActivityKind.Client, name), await capture.SpanAsync(ActivityKind.Server, name) })
        {
            Assert.Equal(ActivityStatusCode.Error, span.Status);
            TelemetryCapture.AssertTags(span, failed);
        }

        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(clientDuration)), "ipc.client.request.duration", failed);
        TelemetryCapture.AssertTags(Assert.Single(await TelemetryCapture.MeasurementsAsync(serverDuration)), "ipc.server.request.duration", failed);
    }

    private static (string Key, object? Value)[] RpcTags(string route) => TelemetryCapture.RpcTags(EndpointName, route);
}
