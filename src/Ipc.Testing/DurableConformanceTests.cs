using Xunit;

namespace Ipc.Testing;

/// <summary>
/// Durability (<see cref="TransportCapabilities.Durable"/>): what a broker accepted for a server that is stopped is
/// handled once the server is back, instead of failing with <see cref="IpcErrorCode.Unavailable"/>.
/// </summary>
/// <typeparam name="TTransport">Describes the transport under test.</typeparam>
public abstract class DurableConformanceTests<TTransport> : TransportConformanceTests<TTransport>
    where TTransport : TransportUnderTest, new()
{
    /// <inheritdoc />
    protected override TransportCapabilities SuiteCapabilities => TransportCapabilities.OneWay | TransportCapabilities.Durable;

    /// <summary>A one-way message sent while its server is stopped is kept, and handled once the server is back.</summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_ServerStopped_MessageIsHandledOnceServerIsBack()
    {
        var address = CreateAddress();
        var first = await StartServerAsync(address); // declares what the broker keeps for it
        await first.StopAsync().WaitAsync(Bound);
        var client = CreateClient(address);
        Probe.ExpectNumbers(1);

        await client.Channel.SendAsync(ConformanceRoutes.Numbers, new Numbered(7)).AsTask().WaitAsync(Bound);
        await StartServerAsync(address);

        await Probe.NumbersArrived.Task.WaitAsync(Bound);
        Assert.Equal([7], Probe.Numbers);
    }
}
