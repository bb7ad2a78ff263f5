using System.Diagnostics.Metrics;
using Ipc.Diagnostics;
using Ipc.Testing;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace Ipc.Sockets.Tests;

/// <summary>The connection metrics the stream core reports through <see cref="IpcTransportTelemetry"/>, over a real Unix socket.</summary>
[Trait("Transport", "UnixSocket")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ConnectionTelemetryTests
{
    [Fact]
    public async Task RequestAsync_FirstCall_CountsOneActiveConnectionEachSideUntilServerStopsThenItsDuration()
    {
        var address = TestAddresses.NewUnixAddress();
        using var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address);
        using var clientActive = Collect<long>(client, "ipc.connection.active");
        using var serverActive = Collect<long>(server.Services, "ipc.connection.active");
        using var serverDuration = Collect<double>(server.Services, "ipc.connection.duration");

        await client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound);
        await clientActive.WaitForMeasurementsAsync(1, TestIpc.Bound);
        await serverActive.WaitForMeasurementsAsync(1, TestIpc.Bound);
        var opened = Assert.Single(clientActive.GetMeasurementSnapshot());
        await server.StopAsync().WaitAsync(TestIpc.Bound); // closes the connection; both containers still collect
        await clientActive.WaitForMeasurementsAsync(2, TestIpc.Bound);
        await serverActive.WaitForMeasurementsAsync(2, TestIpc.Bound);
        await serverDuration.WaitForMeasurementsAsync(1, TestIpc.Bound);

        Assert.Equal(1, opened.Value);
        Assert.Equal("client", opened.Tags["ipc.connection.side"]);
        Assert.Equal("unix", opened.Tags["network.transport"]);
        Assert.Equal(TestIpc.Endpoint, opened.Tags["ipc.endpoint"]);
        Assert.Equal([1L, -1L], clientActive.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal([1L, -1L], serverActive.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.All(serverActive.GetMeasurementSnapshot(), m => Assert.Equal("server", m.Tags["ipc.connection.side"]));
        Assert.True(Assert.Single(serverDuration.GetMeasurementSnapshot()).Value >= 0);
    }

    [Fact]
    public async Task RequestAsync_ServerRestarted_CountsOneReconnect()
    {
        var address = TestAddresses.NewUnixAddress();
        var server = await TestIpc.StartServerAsync(address);
        await using var client = TestIpc.CreateClient(address);
        using var reconnects = Collect<long>(client, "ipc.client.reconnects");
        using var active = Collect<long>(client, "ipc.connection.active");
        await client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound);

        await server.StopAsync().WaitAsync(TestIpc.Bound);
        server.Dispose();
        await active.WaitForMeasurementsAsync(2, TestIpc.Bound); // the client saw its connection close
        using var restarted = await TestIpc.StartServerAsync(address);
        await client.Requests().RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(1, 2)).AsTask().WaitAsync(TestIpc.Bound);

        Assert.Equal(1, Assert.Single(reconnects.GetMeasurementSnapshot()).Value);
    }

    private static MetricCollector<T> Collect<T>(IServiceProvider services, string instrument)
        where T : struct =>
        new(services.GetRequiredService<IMeterFactory>(), IpcDiagnostics.MeterName, instrument);
}
