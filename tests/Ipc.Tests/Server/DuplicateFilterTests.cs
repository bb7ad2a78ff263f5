using System.Collections.Concurrent;
using Ipc.InMemory;
using Ipc.Server;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Ipc.Tests.Server;

[Trait("Category", "Resilience")]
public sealed class DuplicateFilterTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public void IsDuplicate_WindowFull_ForgetsOldestId()
    {
        var filter = new DuplicateFilter(capacity: 2);

        Assert.False(filter.IsDuplicate("a"));
        Assert.False(filter.IsDuplicate("b"));
        Assert.True(filter.IsDuplicate("b"));
        Assert.False(filter.IsDuplicate("c"));

        Assert.False(filter.IsDuplicate("a")); // pushed out by c
        Assert.True(filter.IsDuplicate("c"));
    }

    [Fact]
    public async Task Begin_SecondDelivery_GetsFirstResponse()
    {
        var filter = new DuplicateFilter(capacity: 8);
        var response = new IpcMessage("r");

        Assert.Null(filter.Begin("id", out var owner));
        var second = filter.Begin("id", out var secondOwner);
        DuplicateFilter.Complete(owner!, response);

        Assert.Null(secondOwner);
        Assert.Same(response, await second!.WaitAsync(Bound));
    }

    [Fact]
    public async Task Abandon_FirstDeliveryCancelled_NextDeliveryRunsHandler()
    {
        var filter = new DuplicateFilter(capacity: 8);
        Assert.Null(filter.Begin("id", out var owner));
        var waiting = filter.Begin("id", out _);

        filter.Abandon("id", owner!);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting!.WaitAsync(Bound));
        Assert.Null(filter.Begin("id", out var next));
        Assert.NotNull(next);
    }

    /// <summary>
    /// End to end: the client's first delivery reaches the server but its acknowledgement is lost, so the client retries
    /// with the same message id; the server's duplicate filter answers the retried request from its window and drops the
    /// retried one-way message, so each handler runs once.
    /// </summary>
    [Fact]
    public async Task Dispatch_RetriedDeliveries_HandlersRunOnceWithSameMessageId()
    {
        var address = $"lossy://dup-{Guid.NewGuid():N}";
        var handled = new ConcurrentQueue<string>();
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton<TimeProvider>(new FakeTimeProvider());
        builder.Services.AddIpc()
            .AddTransport<LostAckTransport>()
            .AddEndpoint("server", address.Replace("lossy://", "inmemory://", StringComparison.Ordinal))
            .AddEndpoint("client", address)
            .AddServer("server", server => server
                .UseDuplicateFilter()
                .MapRequest<int, int>("add-one", (n, context, _) =>
                {
                    handled.Enqueue("request " + context.MessageId);
                    return new ValueTask<int>(n + 1);
                })
                .MapMessage<int>("note", (n, context, _) =>
                {
                    handled.Enqueue($"note {n} {context.MessageId}");
                    if (n == 2)
                    {
                        marker.TrySetResult();
                    }

                    return default;
                }))
            .ConfigureResilience("client", r =>
            {
                r.Retry.MaxRetryAttempts = 2;
                r.Retry.Delay = TimeSpan.Zero;
                r.Idempotent = true; // one-way messages may be retried after an ambiguous failure: the server filters duplicates
            });
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Bound);
        var factory = host.Services.GetRequiredService<IIpcClientFactory>();
        var transport = host.Services.GetServices<IIpcTransport>().OfType<LostAckTransport>().Single();

        var sum = await factory.GetRequestClient("client").RequestAsync<int, int>("add-one", 41).AsTask().WaitAsync(Bound);
        await factory.GetChannel("client").SendAsync("note", 1).AsTask().WaitAsync(Bound);
        await factory.GetChannel("client").SendAsync("note", 2).AsTask().WaitAsync(Bound);
        await marker.Task.WaitAsync(Bound); // one-way messages are handled in order: note 1 and its duplicate came first

        Assert.Equal(42, sum);
        var deliveries = transport.Delivered.ToList();
        Assert.Equal(6, deliveries.Count); // each of the three messages delivered twice
        Assert.All(deliveries.Chunk(2), pair => Assert.Equal(pair[0], pair[1]));
        Assert.Equal(
            [$"request {deliveries[0]}", $"note 1 {deliveries[2]}", $"note 2 {deliveries[4]}"],
            handled.ToArray());
        await host.StopAsync().WaitAsync(Bound);
    }

    /// <summary>The in-memory transport under <c>lossy://</c>: every message's first delivery reaches the server, then fails as if its acknowledgement were lost.</summary>
    private sealed class LostAckTransport : IIpcTransport
    {
        private readonly InMemoryTransport _inner = new();
        private readonly ConcurrentDictionary<string, bool> _failedOnce = new();

        public ConcurrentQueue<string> Delivered { get; } = new();

        public string Name => "LostAck";

        public IReadOnlyList<string> Schemes { get; } = ["lossy"];

        // Stands for a transport whose connection can drop (the point of the test), so not in-process.
        public TransportCapabilities GetCapabilities(Uri address) => _inner.GetCapabilities(address) & ~TransportCapabilities.InProcess;

        public string? ValidateAddress(Uri address) => _inner.ValidateAddress(address);

        public IIpcTransportClient CreateClient(IpcTransportContext context) => new Client(_inner.CreateClient(context), this);

        public IIpcTransportListener CreateListener(IpcTransportContext context) => throw new NotSupportedException();

        private void AfterDelivery(IpcMessage message)
        {
            Delivered.Enqueue(message.MessageId);
            if (_failedOnce.TryAdd(message.MessageId, true))
            {
                throw new IpcException(IpcErrorCode.Unavailable, "The connection broke before the acknowledgement arrived.");
            }
        }

        private sealed class Client(IIpcTransportClient inner, LostAckTransport owner) : IIpcTransportClient
        {
            public async ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
            {
                var response = await inner.RequestAsync(request, cancellationToken);
                owner.AfterDelivery(request);
                return response;
            }

            public async ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
            {
                await inner.SendAsync(message, cancellationToken);
                owner.AfterDelivery(message);
            }

            public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

            public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken) => throw new NotSupportedException();

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
