using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.InMemory;

/// <summary>
/// A stream whose producer ignores its token: the caller's cancellation does not wait for it (the server's stop, the
/// streaming conformance suite checks on every transport).
/// </summary>
public sealed class InMemoryStreamTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    /// <summary>A caller that cancels while the producer holds its next item gets OperationCanceledException at once.</summary>
    [Fact]
    public async Task StreamAsync_CallerCancelsWhileTheProducerIgnoresItsToken_ThrowsOperationCanceled()
    {
        var held = new HeldProducer();
        var address = TestSupport.NewAddress("numbers");
        using var host = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("numbers", address).AddServer("numbers", held.Map));
        try
        {
            await using var client = TestSupport.Client("numbers", address);
            using var cancel = new CancellationTokenSource();
            await using var items = client.GetRequiredKeyedService<IRequestClient>("numbers").StreamAsync<int, int>("held", 1).GetAsyncEnumerator(cancel.Token);
            Assert.True(await items.MoveNextAsync().AsTask().WaitAsync(Bound));
            var next = items.MoveNextAsync().AsTask();
            await held.Holding.WaitAsync(Bound);

            await cancel.CancelAsync();

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Bound));
        }
        finally
        {
            held.Release();
            await host.StopAsync().WaitAsync(Bound);
        }
    }

    /// <summary>Yields its first item, then holds the next on a gate, deaf to its token.</summary>
    private sealed class HeldProducer
    {
        private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Holding => _holding.Task;

        public void Map(IpcServerBuilder server) => server.MapStream<int, int>("held", (first, _, _) => ProduceAsync(first));

        public void Release() => _gate.TrySetResult();

        private async IAsyncEnumerable<int> ProduceAsync(int first)
        {
            yield return first;
            _holding.TrySetResult();
            await _gate.Task;
            yield return first + 1;
        }
    }
}
