using Ipc.Tests.Resilience;

namespace Ipc.Tests;

/// <summary>A decorator that overrides the raw methods sees every call, typed ones too.</summary>
public sealed class DelegatingRequestClientTests
{
    [Fact]
    public async Task RequestAsync_Typed_GoesThroughOverriddenRawMethod()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var client = new CountingClient(endpoint.Client);

        var answer = await client.RequestAsync<string, string>("echo", "hi").AsTask().WaitAsync(TestSupport.Bound);

        Assert.Equal("hi", answer);
        Assert.Equal(1, client.Requests);
        Assert.Equal("yes", Assert.Single(endpoint.Transport.Attempts).Message.Headers["counted"]);
    }

    [Fact]
    public async Task StreamAsync_Typed_GoesThroughOverriddenRawMethod()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var client = new CountingClient(endpoint.Client);
        var items = new List<string>();

        await foreach (var item in client.StreamAsync<string, string>("range", "only").WithCancellation(new CancellationTokenSource(TestSupport.Bound).Token))
        {
            items.Add(item);
        }

        Assert.Equal(["only"], items);
        Assert.Equal(1, client.Streams);
    }

    [Fact]
    public async Task RequestAsync_TypedWithCallTimeout_KeepsTheTimeoutThroughTheRawMethod()
    {
        await using var endpoint = ScriptedEndpoint.Create();
        var client = new CountingClient(endpoint.Client);
        endpoint.Transport.HangNext();

        var call = client.RequestAsync<string, string>("echo", "slow", new IpcCallOptions { Timeout = TimeSpan.FromSeconds(2) }).AsTask();
        await endpoint.Transport.WaitForAttemptsAsync(1, TestSupport.Bound);
        endpoint.Time.Advance(TimeSpan.FromSeconds(2));

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(() => call.WaitAsync(TestSupport.Bound));
        Assert.Equal(TimeSpan.FromSeconds(2), ex.Timeout);
        Assert.Equal(1, client.Requests);
    }

    private sealed class CountingClient(IRequestClient inner) : DelegatingRequestClient(inner)
    {
        private int _requests;
        private int _streams;

        public int Requests => Volatile.Read(ref _requests);

        public int Streams => Volatile.Read(ref _streams);

        public override ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _requests);
            request.Headers["counted"] = "yes";
            return base.RequestAsync(request, cancellationToken);
        }

        public override IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _streams);
            return base.StreamAsync(request, cancellationToken);
        }
    }
}
