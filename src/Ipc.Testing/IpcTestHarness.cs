using System.Collections.Concurrent;
using Ipc.InMemory;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ipc.Testing;

/// <summary>How a recorded message travelled.</summary>
public enum RecordedKind
{
    /// <summary>A request of a request/response call.</summary>
    Request,

    /// <summary>A one-way message.</summary>
    OneWay,

    /// <summary>A published message.</summary>
    Publish,

    /// <summary>The request of a stream call.</summary>
    Stream,
}

/// <summary>A message the harness saw, with the endpoint it went to.</summary>
/// <param name="Endpoint">The endpoint name.</param>
/// <param name="Kind">How it travelled.</param>
/// <param name="Message">The message (route, ids, headers, body).</param>
public sealed record RecordedMessage(string Endpoint, RecordedKind Kind, IpcMessage Message);

/// <summary>
/// Runs an application's handlers on the in-memory transport for a unit test, gives clients of its endpoints, and records
/// every message sent by those clients and every message the handlers received.
/// </summary>
/// <example>
/// <code>
/// await using var harness = await IpcTestHarness.StartAsync(ipc => ipc
///     .AddServer("calculator", s => s.MapRequest&lt;Add, int&gt;("add", a => a.A + a.B)));
/// var sum = await harness.GetRequestClient("calculator").RequestAsync&lt;Add, int&gt;("add", new Add(1, 2));
/// Assert.Single(harness.Handled("calculator", "add"));
/// </code>
/// </example>
/// <remarks>Every endpoint the harness's servers use gets a unique <c>inmemory://</c> address, unless the test configured one.</remarks>
public sealed class IpcTestHarness : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly Recorder _recorder;

    private IpcTestHarness(IHost host, Recorder recorder)
    {
        _host = host;
        _recorder = recorder;
    }

    /// <summary>Gets the services of the application under test.</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>Gets every message the harness's clients sent, in order.</summary>
    public IReadOnlyList<RecordedMessage> Sent => [.. _recorder.Sent];

    /// <summary>Gets every message the handlers received, in order.</summary>
    public IReadOnlyList<RecordedMessage> Received => [.. _recorder.Received];

    /// <summary>Starts the harness: <paramref name="configureIpc"/> adds servers and endpoints, <paramref name="configureServices"/> the app's own services.</summary>
    public static async Task<IpcTestHarness> StartAsync(Action<IIpcBuilder> configureIpc, Action<IServiceCollection>? configureServices = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configureIpc);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var recorder = new Recorder();
        builder.Services.AddSingleton(recorder);
        var ipc = builder.Services.AddIpc();
        ipc.AddTransport<RecordingTransport>();
        configureServices?.Invoke(builder.Services);
        configureIpc(ipc);
        var run = Guid.NewGuid().ToString("N");
        builder.Services.PostConfigure<IpcOptions>(options =>
        {
            foreach (var name in builder.Services.Select(d => d.ImplementationInstance).OfType<Server.IpcServerDefinition>().Select(d => d.EndpointName))
            {
                if (!options.Endpoints.TryGetValue(name, out var endpoint))
                {
                    options.Endpoints[name] = endpoint = new IpcEndpointOptions();
                }

                endpoint.Address ??= $"{RecordingTransport.Scheme}://{name}-{run}";
            }

            foreach (var endpoint in options.Endpoints.Values)
            {
                if (endpoint.Address is { } address && address.StartsWith(InMemoryTransport.Scheme + "://", StringComparison.OrdinalIgnoreCase))
                {
                    endpoint.Address = RecordingTransport.Scheme + address[InMemoryTransport.Scheme.Length..];
                }
            }
        });
        var host = builder.Build();
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        return new IpcTestHarness(host, recorder);
    }

    /// <summary>Gets the request client of an endpoint.</summary>
    public IRequestClient GetRequestClient(string endpointName) => Services.GetRequiredService<IIpcClientFactory>().GetRequestClient(endpointName);

    /// <summary>Gets the channel of an endpoint.</summary>
    public IChannel GetChannel(string endpointName) => Services.GetRequiredService<IIpcClientFactory>().GetChannel(endpointName);

    /// <summary>Gets the messages the handlers of <paramref name="endpointName"/> received on <paramref name="route"/>.</summary>
    public IReadOnlyList<IpcMessage> Handled(string endpointName, string route) =>
        [.. _recorder.Received.Where(r => string.Equals(r.Endpoint, endpointName, StringComparison.OrdinalIgnoreCase) && r.Message.Route == route).Select(r => r.Message)];

    /// <summary>Decodes the bodies of <see cref="Handled(string, string)"/> as <typeparamref name="T"/>, with the endpoint's serializer.</summary>
    public IReadOnlyList<T> Handled<T>(string endpointName, string route)
    {
        var handled = Handled(endpointName, route);
        if (handled.Count == 0)
        {
            return [];
        }

        // The serializer the endpoint's server decoded them with: its own (IpcEndpointOptions.Serializer), else the app's.
        var serializer = Services.GetRequiredService<EndpointRegistry>().Get(endpointName).Serializer;
        return [.. handled.Select(m => serializer.Deserialize<T>(m.Body))];
    }

    /// <summary>Waits until the handlers of <paramref name="endpointName"/> have received <paramref name="count"/> messages on <paramref name="route"/>.</summary>
    /// <exception cref="TimeoutException">When they have not within <paramref name="timeout"/>.</exception>
    public async Task WaitForHandledAsync(string endpointName, string route, int count, TimeSpan timeout)
    {
        var waiter = _recorder.Wait(() => Handled(endpointName, route).Count >= count);
        try
        {
            await waiter.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Endpoint '{endpointName}' handled {Handled(endpointName, route).Count} of the {count} messages expected on route '{route}' within {timeout}.");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync().ConfigureAwait(false);
        if (_host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            _host.Dispose();
        }
    }

    internal sealed class Recorder
    {
        private readonly List<(Func<bool> Condition, TaskCompletionSource Done)> _waiters = [];

        public ConcurrentQueue<RecordedMessage> Sent { get; } = new();

        public ConcurrentQueue<RecordedMessage> Received { get; } = new();

        public void OnSent(RecordedMessage message) => Sent.Enqueue(message);

        public void OnReceived(RecordedMessage message)
        {
            Received.Enqueue(message);
            lock (_waiters)
            {
                _waiters.RemoveAll(w => w.Condition() && w.Done.TrySetResult());
            }
        }

        public Task Wait(Func<bool> condition)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_waiters)
            {
                if (condition())
                {
                    return Task.CompletedTask;
                }

                _waiters.Add((condition, done));
            }

            return done.Task;
        }
    }

    /// <summary>The in-memory transport under the <c>harness://</c> scheme, recording both sides.</summary>
    internal sealed class RecordingTransport(Recorder recorder) : IIpcTransport
    {
        public const string Scheme = "harness";

        private readonly InMemoryTransport _inner = new();

        public string Name => "Harness";

        public IReadOnlyList<string> Schemes { get; } = [Scheme];

        public TransportCapabilities GetCapabilities(Uri address) => _inner.GetCapabilities(address);

        public string? ValidateAddress(Uri address) => _inner.ValidateAddress(address);

        public IIpcTransportClient CreateClient(IpcTransportContext context) => new Client(_inner.CreateClient(context), context.EndpointName, recorder);

        public IIpcTransportListener CreateListener(IpcTransportContext context) => new Listener(_inner.CreateListener(context), recorder);

        private sealed class Client(IIpcTransportClient inner, string endpoint, Recorder recorder) : IIpcTransportClient
        {
            public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken)
            {
                recorder.OnSent(new RecordedMessage(endpoint, RecordedKind.Request, request));
                return inner.RequestAsync(request, cancellationToken);
            }

            public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken)
            {
                recorder.OnSent(new RecordedMessage(endpoint, RecordedKind.OneWay, message));
                return inner.SendAsync(message, cancellationToken);
            }

            public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken)
            {
                recorder.OnSent(new RecordedMessage(endpoint, RecordedKind.Publish, message));
                return inner.PublishAsync(message, cancellationToken);
            }

            public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken)
            {
                recorder.OnSent(new RecordedMessage(endpoint, RecordedKind.Stream, request));
                return inner.StreamAsync(request, cancellationToken);
            }

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }

        private sealed class Listener(IIpcTransportListener inner, Recorder recorder) : IIpcTransportListener
        {
            public ValueTask StartAsync(IIpcDispatcher dispatcher, CancellationToken cancellationToken) =>
                inner.StartAsync(new RecordingDispatcher(dispatcher, recorder), cancellationToken);

            public ValueTask StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }

        private sealed class RecordingDispatcher(IIpcDispatcher inner, Recorder recorder) : IIpcDispatcher
        {
            // Published messages reach a server's subscription routes through DispatchOneWayAsync, as one-way messages do.
            private readonly HashSet<string> _topics = inner.Routes.Where(r => r.Kind == IpcRouteKind.Subscription).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);

            public string EndpointName => inner.EndpointName;

            public int MaxMessageSize => inner.MaxMessageSize;

            public string ServiceName => inner.ServiceName;

            public IReadOnlyList<IpcRoute> Routes => inner.Routes;

            public ValueTask<IpcMessage> DispatchRequestAsync(IpcMessage request, CancellationToken cancellationToken)
            {
                recorder.OnReceived(new RecordedMessage(EndpointName, RecordedKind.Request, request));
                return inner.DispatchRequestAsync(request, cancellationToken);
            }

            public async ValueTask<IpcOneWayOutcome> DispatchOneWayAsync(IpcMessage message, CancellationToken cancellationToken)
            {
                var outcome = await inner.DispatchOneWayAsync(message, cancellationToken).ConfigureAwait(false);
                recorder.OnReceived(new RecordedMessage(EndpointName, _topics.Contains(message.Route) ? RecordedKind.Publish : RecordedKind.OneWay, message));
                return outcome;
            }

            public IAsyncEnumerable<IpcMessage> DispatchStreamAsync(IpcMessage request, CancellationToken cancellationToken)
            {
                recorder.OnReceived(new RecordedMessage(EndpointName, RecordedKind.Stream, request));
                return inner.DispatchStreamAsync(request, cancellationToken);
            }
        }
    }
}
