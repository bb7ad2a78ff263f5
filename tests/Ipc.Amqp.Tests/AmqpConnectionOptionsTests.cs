using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Amqp.Tests;

/// <summary>The connection options away from their defaults, seen from the broker and in the transport's own logs, on a node of the class's own.</summary>
public sealed class AmqpConnectionOptionsTests(PrivateNodeFixture node) : IClassFixture<PrivateNodeFixture>, IAsyncLifetime
{
    private readonly AmqpTestHost _hosts = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _hosts.DisposeAsync();

    /// <summary>
    /// Heartbeat is the heartbeat each connection asks for: the broker (whose own is 60 s) lists the server's connection
    /// with the server's value and the client's with the client's.
    /// </summary>
    [Fact]
    public async Task Heartbeat_IsWhatEachConnectionNegotiates()
    {
        var broker = await node.BrokerAsync;
        var address = $"{broker.Uri()}?name=beat-{Guid.NewGuid():N}";
        await _hosts.StartServerAsync(address, server => server.MapRequest<Order, Order>("price", order => order), o => o.Heartbeat = TimeSpan.FromSeconds(7));
        var requests = _hosts.CreateClientServices(address, o => o.Heartbeat = TimeSpan.FromSeconds(9)).GetRequiredService<IIpcClientFactory>().GetRequestClient(AmqpTestHost.Endpoint);
        Assert.Equal(new Order(1), await requests.RequestAsync<Order, Order>("price", new Order(1)).AsTask().WaitAsync(AmqpTestHost.Bound));

        var listed = await broker.CtlAsync(0, "list_connections", "--quiet", "--no-table-headers", "client_properties", "timeout");

        Assert.Equal([7], Timeouts(listed, "ipc server of"));
        Assert.Equal([9], Timeouts(listed, "ipc client of"));

        // The connections the broker lists ("[..., {"connection_name","ipc client of orders"}]\t9"), by the start of their
        // name: each one's timeout.
        static int[] Timeouts(string listed, string name) =>
            listed.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(line => line.Contains($"{{\"connection_name\",\"{name}", StringComparison.Ordinal))
                .Select(line => int.Parse(line[(line.LastIndexOf('\t') + 1)..], CultureInfo.InvariantCulture))
                .Distinct()
                .ToArray();
    }

    /// <summary>
    /// RecoveryInterval is the wait before a lost connection is opened again: with the broker closing every connection,
    /// the server's and the client's each recover no sooner than their interval after they were lost, then serve again.
    /// </summary>
    [Fact]
    public async Task RecoveryInterval_IsTheWaitBeforeALostConnectionRecovers()
    {
        var broker = await node.BrokerAsync;
        var address = $"{broker.Uri()}?name=recover-{Guid.NewGuid():N}";
        var interval = TimeSpan.FromSeconds(3);
        using var serverLogs = new RecoveryWatch();
        using var clientLogs = new RecoveryWatch();
        await _hosts.StartServerAsync(address, server => server.MapRequest<Order, Order>("price", order => order with { Id = order.Id * 10 }), o => o.RecoveryInterval = interval, serverLogs);
        var requests = _hosts.CreateClientServices(address, o => o.RecoveryInterval = interval, logs: clientLogs).GetRequiredService<IIpcClientFactory>().GetRequestClient(AmqpTestHost.Endpoint);
        Assert.Equal(new Order(10), await requests.RequestAsync<Order, Order>("price", new Order(1)).AsTask().WaitAsync(AmqpTestHost.Bound));

        await broker.CtlAsync(0, "close_all_connections", "closed by a test");

        foreach (var (side, logs) in new[] { ("server", serverLogs), ("client", clientLogs) })
        {
            var lost = await logs.Lost.WaitAsync(AmqpTestHost.Bound);
            var waited = Stopwatch.GetElapsedTime(lost, await logs.Recovered.WaitAsync(AmqpTestHost.Bound));

            // No sooner than the interval (the default, 1 s, would recover in about that); a little less than 3 s is
            // allowed for the time between the connection's loss and the log of it.
            Assert.True(waited > interval - TimeSpan.FromMilliseconds(250), $"The {side}'s connection recovered {waited.TotalMilliseconds:0} ms after it was lost.");
        }

        Assert.Equal(new Order(20), await requests.RequestAsync<Order, Order>("price", new Order(2)).AsTask().WaitAsync(AmqpTestHost.Bound));
    }
}
