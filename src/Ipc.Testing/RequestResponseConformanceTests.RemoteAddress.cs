using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Xunit;

namespace Ipc.Testing;

/// <summary>The peer: a handler's context names who made the call, and so do the server's failure log and span.</summary>
public abstract partial class RequestResponseConformanceTests<TTransport>
{
    /// <summary>A handler sees the caller's <see cref="IpcContext.RemoteAddress"/>, as <see cref="TransportUnderTest.AssertRemoteAddress"/> expects it.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_Handler_SeesRemoteAddress()
    {
        var (_, client) = await StartPairAsync();

        var info = await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(Bound);

        Transport.AssertRemoteAddress(info.RemoteAddress);
    }

    /// <summary>
    /// The server's log of a handler's unhandled exception (event 1) names the caller in its <c>RemoteAddress</c> value and
    /// its text (<c>unknown</c> when the transport names no peer).
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_HandlerThrows_LogNamesRemoteAddress()
    {
        var logged = Channel.CreateUnbounded<string>(); // told of each record; the server may still log after the fact ends
        var collector = FakeLogCollector.Create(new FakeLogCollectorOptions { OutputSink = line => logged.Writer.TryWrite(line) });
        var address = CreateAddress();
        await StartServerAsync(address, Probe, serviceName: null, configure: null, time: null, services: s => s.AddLogging(l => l.AddProvider(new FakeLoggerProvider(collector))));
        var client = CreateClient(address);

        await Assert.ThrowsAsync<IpcException>(() => client.Requests.RequestAsync<string, string>(ConformanceRoutes.Fail, "x").AsTask().WaitAsync(Bound));

        var failed = await WaitForRecordAsync(collector, logged, r => r.Id.Id == 1 && r.Message.Contains($"'{ConformanceRoutes.Fail}'", StringComparison.Ordinal));
        var remoteAddress = Assert.Single(failed.StructuredState!, p => p.Key == "RemoteAddress").Value;
        Assert.Contains($"from {remoteAddress})", failed.Message, StringComparison.Ordinal);
        Transport.AssertRemoteAddress(remoteAddress == "unknown" ? null : remoteAddress); // "unknown": the transport named no peer
    }

    /// <summary>
    /// The server span carries the caller as <c>client.address</c> (and <c>client.port</c> when it has one), which put
    /// together give the handler's <see cref="IpcContext.RemoteAddress"/>; neither tag when the transport names no peer.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task RequestAsync_Observed_ServerSpanNamesClient()
    {
        var (_, client) = await StartPairAsync();
        using var capture = new TelemetryCapture();

        var info = await client.Requests.RequestAsync<string, CallInfo>(ConformanceRoutes.Inspect, "who").AsTask().WaitAsync(Bound);

        var span = await capture.SpanAsync(ActivityKind.Server, $"{EndpointName}/{ConformanceRoutes.Inspect}");
        var clientAddress = (string?)span.GetTagItem("client.address");
        var clientPort = (int?)span.GetTagItem("client.port");
        if (info.RemoteAddress is null)
        {
            Assert.Null(clientAddress);
            Assert.Null(clientPort);
            return;
        }

        Assert.NotNull(clientAddress);
        var joined = clientPort is null ? clientAddress : clientAddress.Contains(':', StringComparison.Ordinal) ? $"[{clientAddress}]:{clientPort}" : $"{clientAddress}:{clientPort}";
        Assert.Equal(info.RemoteAddress, joined);
    }

    private static async Task<FakeLogRecord> WaitForRecordAsync(FakeLogCollector collector, Channel<string> logged, Func<FakeLogRecord, bool> match)
    {
        using var bound = new CancellationTokenSource(Bound);
        while (true)
        {
            if (collector.GetSnapshot().FirstOrDefault(match) is { } record)
            {
                return record;
            }

            await logged.Reader.ReadAsync(bound.Token);
        }
    }
}
