using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Ipc.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;

namespace Ipc.Tests.Server;

public sealed partial class IpcDispatcherTests
{
    private static readonly TimeSpan Bound = TestSupport.Bound;

    [Fact]
    public async Task RequestAsync_OneWayRoute_ThrowsNoHandlerNamingTheRightCall()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calc", address)
            .AddServer("calc", s => s.MapMessage<int>("log", (_, _, _) => default)));
        await using var client = TestSupport.Client("calc", address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<int, int>("log", 1).AsTask());

        Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
        Assert.Contains("SendAsync", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_EnableDetailedErrors_SendsTypeMessageAndStackTrace()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc =>
        {
            ipc.Services.Configure<IpcOptions>(o => o.EnableDetailedErrors = true);
            ipc.AddEndpoint("calc", address).AddServer("calc", s => s.MapRequest<int, int>("fail", _ => throw new InvalidOperationException("bad")));
        });
        await using var client = TestSupport.Client("calc", address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<int, int>("fail", 1).AsTask());

        Assert.Equal(nameof(InvalidOperationException), ex.Remote!.Code);
        Assert.Equal("bad", ex.Remote.Message);
        Assert.Contains("InvalidOperationException: bad", ex.Remote.Details!["stackTrace"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_ContentTypeMismatch_ThrowsSerializationNamingBoth()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calc", address)
            .AddServer("calc", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));
        await using var client = TestSupport.Client("calc", address, ipc: b => b.UseSystemTextJson());

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<Add, int>("add", new Add(1, 2)).AsTask());

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.Contains("application/json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("application/x-msgpack", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_JsonOnBothSides_RoundTrips()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.UseSystemTextJson().AddEndpoint("calc", address)
            .AddServer("calc", s => s.MapRequest<Add, int>("add", a => a.A + a.B)));
        await using var client = TestSupport.Client("calc", address, ipc: b => b.UseSystemTextJson());

        Assert.Equal(5, await client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<Add, int>("add", new Add(2, 3)));
    }

    [Fact]
    public async Task RequestAsync_SerializerThrows_ThrowsSerializationWithInner()
    {
        var serializer = Substitute.For<IIpcSerializer>();
        serializer.ContentType.Returns("application/x-broken");
        serializer.When(s => s.Serialize(Arg.Any<IBufferWriter<byte>>(), Arg.Any<Add>())).Do(_ => throw new FormatException("cannot write Add"));
        await using var client = TestSupport.Client("calc", TestSupport.NewAddress(), e => e.Serializer = "broken", b => b.AddSerializer("broken", serializer));

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<Add, int>("add", new Add(1, 2)).AsTask());

        Assert.Equal(IpcErrorCode.Serialization, ex.ErrorCode);
        Assert.IsType<FormatException>(ex.InnerException);
        Assert.Contains("cannot write Add", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestAsync_ClassHandler_ResolvedPerCallAndScopeDisposed()
    {
        var address = TestSupport.NewAddress();
        var tracker = new ScopeTracker();
        using var server = await TestSupport.StartServerAsync(
            ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s.MapRequest<Add, int, AddHandler>("add")),
            services => services.AddSingleton(tracker).AddScoped<ScopedDependency>());
        await using var client = TestSupport.Client("calc", address);
        var requests = client.GetRequiredKeyedService<IRequestClient>("calc");

        Assert.Equal(3, await requests.RequestAsync<Add, int>("add", new Add(1, 2)));
        Assert.Equal(7, await requests.RequestAsync<Add, int>("add", new Add(3, 4)));

        Assert.Equal(2, tracker.Created);
        Assert.Equal(2, tracker.Disposed);
    }

    /// <summary>The call's scope resolves keyed services, as any scope of the container does.</summary>
    [Fact]
    public async Task RequestAsync_HandlerResolvesKeyedServiceFromContext_GetsTheScopedInstance()
    {
        var address = TestSupport.NewAddress();
        var tracker = new ScopeTracker();
        using var server = await TestSupport.StartServerAsync(
            ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s.MapRequest<int, bool>("keyed", (_, context, _) =>
            {
                var keyed = context.Services.GetRequiredKeyedService<ScopedDependency>("primary");
                return new ValueTask<bool>(ReferenceEquals(keyed, context.Services.GetRequiredKeyedService<ScopedDependency>("primary")));
            })),
            services => services.AddSingleton(tracker).AddKeyedScoped<ScopedDependency>("primary"));
        await using var client = TestSupport.Client("calc", address);

        Assert.True(await client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<int, bool>("keyed", 0).AsTask().WaitAsync(Bound));

        Assert.Equal(1, tracker.Created);
        Assert.Equal(1, tracker.Disposed); // with the call's scope
    }

    /// <summary>
    /// A handler resolving from its call's services on several threads at once gets one scope: one instance of a scoped
    /// service, disposed with the call.
    /// </summary>
    [Fact]
    public async Task RequestAsync_HandlerResolvesFromManyThreadsAtOnce_OneScopeDisposedWithTheCall()
    {
        const int Threads = 8;
        const int Calls = 200;
        var address = TestSupport.NewAddress();
        var tracker = new ScopeTracker();
        using var server = await TestSupport.StartServerAsync(
            ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s.MapRequest<int, int>("parallel", (_, context, _) =>
            {
                // The threads resolve the call's first service together, released at once by the barrier.
                using var barrier = new Barrier(Threads);
                var resolved = new ScopedDependency[Threads];
                var threads = Enumerable.Range(0, Threads).Select(i => new Thread(() =>
                {
                    if (barrier.SignalAndWait(Bound))
                    {
                        resolved[i] = context.Services.GetRequiredService<ScopedDependency>();
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                return new ValueTask<int>(resolved.Any(r => r is null) ? -1 : resolved.Distinct().Count());
            })),
            services => services.AddSingleton(tracker).AddScoped<ScopedDependency>());
        await using var client = TestSupport.Client("calc", address);
        var requests = client.GetRequiredKeyedService<IRequestClient>("calc");

        for (var call = 0; call < Calls; call++)
        {
            Assert.Equal(1, await requests.RequestAsync<int, int>("parallel", call).AsTask().WaitAsync(Bound)); // one instance each call
        }

        Assert.Equal(Calls, tracker.Created);
        Assert.Equal(Calls, tracker.Disposed);
    }

    /// <summary>
    /// A handler's services used after its call ended (kept by work the handler left running) throw
    /// <see cref="ObjectDisposedException"/>, as a disposed scope does, rather than create a scope no one disposes.
    /// </summary>
    [Fact]
    public async Task RequestAsync_ServicesResolvedAfterTheCallEnded_ThrowsObjectDisposed()
    {
        var address = TestSupport.NewAddress();
        var tracker = new ScopeTracker();
        var kept = new TaskCompletionSource<IServiceProvider>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var server = await TestSupport.StartServerAsync(
            ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s.MapRequest<int, int>("keep", (request, context, _) =>
            {
                kept.SetResult(context.Services); // resolves nothing during the call
                return new ValueTask<int>(request);
            })),
            services => services.AddSingleton(tracker).AddScoped<ScopedDependency>());
        await using var client = TestSupport.Client("calc", address);

        Assert.Equal(1, await client.GetRequiredKeyedService<IRequestClient>("calc").RequestAsync<int, int>("keep", 1).AsTask().WaitAsync(Bound));
        var services = await kept.Task.WaitAsync(Bound);

        Assert.Throws<ObjectDisposedException>(() => services.GetService<ScopedDependency>());
        Assert.Throws<ObjectDisposedException>(() => services.GetKeyedService<ScopedDependency>("any"));
        Assert.Equal(0, tracker.Created);
    }

    [Fact]
    public async Task RequestAsync_FromInsideHandler_PropagatesCorrelationId()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s
            .MapRequest<int, string>("outer", async (_, context, ct) =>
                await context.Services.GetRequiredService<IIpcClientFactory>().GetRequestClient("calc").RequestAsync<int, string>("inner", 0, cancellationToken: ct))
            .MapRequest<int, string>("inner", (_, context, _) => new ValueTask<string>(context.CorrelationId!))));
        await using var client = TestSupport.Client("calc", address);

        var seen = await client.GetRequiredKeyedService<IRequestClient>("calc")
            .RequestAsync<int, string>("outer", 0, new IpcCallOptions { CorrelationId = "order-42" }).AsTask().WaitAsync(Bound);

        Assert.Equal("order-42", seen);
    }

    /// <summary>A stream handler's calls carry the stream's correlation id for every item, not only until its first.</summary>
    [Fact]
    public async Task StreamAsync_CallsFromInsideTheHandler_PropagateCorrelationIdForEveryItem()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("calc", address).AddServer("calc", s => s
            .MapStream<int, string>("outer", (count, context, ct) => AskInnerAsync(context, count, ct))
            .MapRequest<int, string>("inner", (_, context, _) => new ValueTask<string>(context.CorrelationId!))));
        await using var client = TestSupport.Client("calc", address);
        var seen = new List<string>();

        await foreach (var item in client.GetRequiredKeyedService<IRequestClient>("calc")
            .StreamAsync<int, string>("outer", 3, new IpcCallOptions { CorrelationId = "order-42" }).WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            seen.Add(item);
        }

        Assert.Equal(["order-42", "order-42", "order-42"], seen);
    }

    /// <summary>A stream handler runs inside its server span for every item: what it traces after its first item is the span's child too.</summary>
    [Fact]
    public async Task StreamAsync_Traced_HandlerRunsInItsServerSpanForEveryItem()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var source = new ActivitySource("Ipc.Tests.StreamSpan");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is IpcDiagnostics.SourceName or "Ipc.Tests.StreamSpan",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("spans", address).AddServer("spans", s => s
            .MapStream<int, string>("current", (count, _, ct) => CurrentSpansAsync(count, ct))));
        await using var client = TestSupport.Client("spans", address);
        var seen = new List<string>();

        using (var parent = source.StartActivity("caller"))
        {
            Assert.NotNull(parent);
            await foreach (var item in client.GetRequiredKeyedService<IRequestClient>("spans").StreamAsync<int, string>("current", 3).WithCancellation(new CancellationTokenSource(Bound).Token))
            {
                seen.Add(item);
            }

            var span = Assert.Single(stopped, a => a.TraceId == parent.TraceId && a.Kind == ActivityKind.Server && a.OperationName == "spans/current");
            Assert.Equal([span.SpanId.ToHexString(), span.SpanId.ToHexString(), span.SpanId.ToHexString()], seen);
        }
    }

    private static async IAsyncEnumerable<string> CurrentSpansAsync(int count, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            yield return Activity.Current?.SpanId.ToHexString() ?? "none";
        }
    }

    private static async IAsyncEnumerable<string> AskInnerAsync(IpcContext context, int count, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var inner = context.Services.GetRequiredService<IIpcClientFactory>().GetRequestClient("calc");
        for (var i = 0; i < count; i++)
        {
            yield return await inner.RequestAsync<int, string>("inner", i, cancellationToken: cancellationToken);
        }
    }

    [Fact]
    public async Task PublishAsync_TwoInMemoryServices_BothReceive()
    {
        var address = TestSupport.NewAddress();
        var first = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var one = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("events", address)
            .AddServer("events", s => s.WithServiceName("billing").MapSubscription<int>("price", (v, _, _) => { first.TrySetResult(v); return default; })));
        using var two = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("events", address)
            .AddServer("events", s => s.WithServiceName("shipping").MapSubscription<int>("price", (v, _, _) => { second.TrySetResult(v); return default; })));
        await using var client = TestSupport.Client("events", address);

        await client.GetRequiredKeyedService<IChannel>("events").PublishAsync("price", 101);

        Assert.Equal(101, await first.Task.WaitAsync(Bound));
        Assert.Equal(101, await second.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task RequestAsync_SubscriptionRoute_ThrowsNoHandlerNamingPublishAsync()
    {
        var address = TestSupport.NewAddress();
        using var server = await TestSupport.StartServerAsync(ipc => ipc.AddEndpoint("events", address)
            .AddServer("events", s => s.MapSubscription<int>("price", (_, _, _) => default)));
        await using var client = TestSupport.Client("events", address);

        var ex = await Assert.ThrowsAsync<IpcException>(() => client.GetRequiredKeyedService<IRequestClient>("events").RequestAsync<int, int>("price", 1).AsTask().WaitAsync(Bound));

        Assert.Equal(IpcErrorCode.NoHandler, ex.ErrorCode);
        Assert.Contains("subscription", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PublishAsync", ex.Message, StringComparison.Ordinal);
    }

    public sealed class ScopeTracker
    {
        public int Created;
        public int Disposed;
    }

    public sealed class ScopedDependency : IDisposable
    {
        private readonly ScopeTracker _tracker;

        public ScopedDependency(ScopeTracker tracker)
        {
            _tracker = tracker;
            Interlocked.Increment(ref tracker.Created);
        }

        public void Dispose() => Interlocked.Increment(ref _tracker.Disposed);
    }

    public sealed class AddHandler(ScopedDependency dependency) : IRequestHandler<Add, int>
    {
        public ValueTask<int> HandleAsync(Add request, IpcContext context, CancellationToken cancellationToken)
        {
            GC.KeepAlive(dependency);
            return new ValueTask<int>(request.A + request.B);
        }
    }
}
