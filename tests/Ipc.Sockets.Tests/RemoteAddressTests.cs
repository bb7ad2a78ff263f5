using System.Threading.Channels;
using Ipc.TestUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Ipc.Sockets.Tests;

public sealed class RemoteAddressTests
{
    [Fact]
    [Trait("Transport", "Tcp")]
    public async Task Server_ConnectionOpened_DebugLogNamesTheClient()
    {
        var address = TestAddresses.NewTcpAddress();
        var logged = Channel.CreateUnbounded<string>();
        var collector = FakeLogCollector.Create(new FakeLogCollectorOptions { OutputSink = line => logged.Writer.TryWrite(line) });
        using var server = await TestIpc.StartServerAsync(address, ipc => ipc.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(new FakeLoggerProvider(collector))));
        await using var client = TestIpc.CreateClient(address);

        await TestIpc.AssertServesAsync(client);

        using var bound = new CancellationTokenSource(TestIpc.Bound);
        FakeLogRecord? opened;
        while ((opened = collector.GetSnapshot().FirstOrDefault(r => r.Id.Id == 30 && r.Message.Contains("(server)", StringComparison.Ordinal))) is null)
        {
            await logged.Reader.ReadAsync(bound.Token);
        }

        var connection = opened.GetStructuredStateValue("Connection") ?? string.Empty;
        RemoteAddresses.AssertLoopback(connection[(connection.LastIndexOf(" from ", StringComparison.Ordinal) + " from ".Length)..]);
    }

    [Fact]
    [Trait("Transport", "UnixSocket")]
    public async Task SendAsync_HandlerThrows_NotDeliveredLogNamesTheSendingProcess()
    {
        var address = TestAddresses.NewUnixAddress();
        var logged = Channel.CreateUnbounded<string>();
        var collector = FakeLogCollector.Create(new FakeLogCollectorOptions { OutputSink = line => logged.Writer.TryWrite(line) });
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddLogging(logging => logging.AddProvider(new FakeLoggerProvider(collector)));
        builder.Services.AddIpc()
            .AddEndpoint(TestIpc.Endpoint, address)
            .AddServer(TestIpc.Endpoint, server => server.MapMessage<string>("fails", (_, _, _) => throw new InvalidOperationException("no")));
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestIpc.Bound);
        await using var client = TestIpc.CreateClient(address);

        await client.GetRequiredKeyedService<IChannel>(TestIpc.Endpoint).SendAsync("fails", "x").AsTask().WaitAsync(TestIpc.Bound);

        using var bound = new CancellationTokenSource(TestIpc.Bound);
        FakeLogRecord? notDelivered;
        while ((notDelivered = collector.GetSnapshot().FirstOrDefault(r => r.Id.Id == 2)) is null)
        {
            await logged.Reader.ReadAsync(bound.Token);
        }

        var remoteAddress = notDelivered.GetStructuredStateValue("RemoteAddress");
        RemoteAddresses.AssertThisProcess(remoteAddress);
        Assert.Contains($"from {remoteAddress} was accepted but not delivered", notDelivered.Message, StringComparison.Ordinal);
        await host.StopAsync().WaitAsync(TestIpc.Bound);
    }
}
