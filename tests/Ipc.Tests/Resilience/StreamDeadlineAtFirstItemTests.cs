using System.Runtime.CompilerServices;
using Ipc.Testing;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Resilience;

/// <summary>A stream whose timeout (which bounds it until its first item) passes just as that first item arrives.</summary>
[Trait("Category", "Resilience")]
public sealed class StreamDeadlineAtFirstItemTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The timeout cancels the stream's token even when the first item is already read: the stream cannot go on, so it
    /// times out then, rather than yielding the item and failing at the next read as cancelled by nobody (Unknown).
    /// </summary>
    [Fact]
    public async Task StreamAsync_DeadlinePassesAsFirstItemArrives_TimesOut()
    {
        var time = new TimerFakeTimeProvider();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton<IIpcTransport>(new DeadlineAtFirstItemTransport(time));
        services.AddIpc().AddEndpoint("svc", "deadline://svc");
        await using var provider = services.BuildServiceProvider(validateScopes: true);
        var client = provider.GetRequiredKeyedService<IRequestClient>("svc");
        var items = new List<string>();

        var ex = await Assert.ThrowsAsync<IpcTimeoutException>(async () =>
        {
            await foreach (var item in client.StreamAsync<string, string>("range", "item", new IpcCallOptions { Timeout = Deadline }))
            {
                items.Add(item);
            }
        }).WaitAsync(TestSupport.Bound);

        Assert.Equal(Deadline, ex.Timeout);
        Assert.Empty(items);
    }

    /// <summary>Streams two copies of the request's body; the deadline passes (the clock moves past it) as the first is read.</summary>
    private sealed class DeadlineAtFirstItemTransport(TimerFakeTimeProvider time) : IIpcTransport, IIpcTransportClient
    {
        public string Name => "DeadlineAtFirstItem";

        public IReadOnlyList<string> Schemes { get; } = ["deadline"];

        public TransportCapabilities GetCapabilities(Uri address) => TransportCapabilities.RequestResponse | TransportCapabilities.Streaming;

        public string? ValidateAddress(Uri address) => null;

        public IIpcTransportClient CreateClient(IpcTransportContext context) => this;

        public IIpcTransportListener CreateListener(IpcTransportContext context) => throw new NotSupportedException();

        public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public async IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            time.Advance(Deadline); // the first item is read as the timeout fires
            yield return IpcMessage.CreateResponse(request, request.Body);
            cancellationToken.ThrowIfCancellationRequested(); // as a connection's stream does before each read
            yield return IpcMessage.CreateResponse(request, request.Body);
        }

        public ValueTask DisposeAsync() => default;
    }
}
