using Xunit;

namespace Ipc.Testing;

/// <summary>What one client can make a server hold, as every transport must bound it.</summary>
public abstract partial class TransportConformanceTests
{
    /// <summary>
    /// One-way handlers that are all held up hold up nothing else: while more one-way messages wait than any server
    /// queue takes, a request from the same client (and so, with the default pool of one, the same connection) is
    /// answered. Once the handlers go on, every message arrives.
    /// </summary>
    [Fact]
    [Trait("Category", "Conformance")]
    public virtual async Task SendAsync_OneWayHandlersHeld_RequestsOnTheSameClientAreAnswered()
    {
        const int count = 3_000;
        var address = CreateAddress();
        await StartServerAsync(address);
        var client = CreateClient(address, resilience: r =>
        {
            r.TotalTimeout = TimeSpan.FromMinutes(2); // the held sends wait for the server: no timeout may end them
            r.AttemptTimeout = TimeSpan.FromMinutes(1);
        });
        Probe.ExpectNumbers(count);

        var sends = new Task[count];
        for (var i = 0; i < count; i++)
        {
            sends[i] = client.Channel.SendAsync(ConformanceRoutes.Held, new Payload(BitConverter.GetBytes(i))).AsTask();
        }

        var sum = await client.Requests.RequestAsync<AddRequest, AddResponse>(ConformanceRoutes.Add, new AddRequest(40, 2)).AsTask().WaitAsync(Bound);

        Assert.Equal(42, sum.Sum);
        Assert.False(Probe.NumbersArrived.Task.IsCompleted);
        Probe.ReleaseHeld.TrySetResult();
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(60));
        await Probe.NumbersArrived.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count), Probe.Numbers.Order());
    }
}
