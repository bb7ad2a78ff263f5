using Ipc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Tests.Resilience;

/// <summary>A client of the endpoint <see cref="Name"/> on a <see cref="ScriptedTransport"/>, with fake time.</summary>
internal sealed class ScriptedEndpoint : IAsyncDisposable
{
    public const string Name = "svc";

    private readonly ServiceProvider _services;

    private ScriptedEndpoint(ServiceProvider services, ScriptedTransport transport, TimerFakeTimeProvider time)
    {
        _services = services;
        Transport = transport;
        Time = time;
    }

    public ScriptedTransport Transport { get; }

    public TimerFakeTimeProvider Time { get; }

    public IServiceProvider Services => _services;

    public IRequestClient Client => _services.GetRequiredService<IIpcClientFactory>().GetRequestClient(Name);

    public IChannel Channel => _services.GetRequiredService<IIpcClientFactory>().GetChannel(Name);

    /// <summary>
    /// Creates the client. Unless <paramref name="resilience"/> says otherwise, timing is deterministic: no jitter, no
    /// timeouts, no retry delay, and a breaker that does not open.
    /// </summary>
    public static ScriptedEndpoint Create(
        Action<IpcResilienceOptions>? resilience = null,
        Action<IServiceCollection>? services = null,
        IConfiguration? configuration = null,
        TransportCapabilities capabilities = ScriptedTransport.DefaultCapabilities)
    {
        var time = new TimerFakeTimeProvider();
        var transport = new ScriptedTransport(capabilities);
        var collection = new ServiceCollection();
        collection.AddSingleton<TimeProvider>(time);
        services?.Invoke(collection);
        var ipc = configuration is null ? collection.AddIpc() : collection.AddIpc(configuration);
        ipc.AddScriptedTransport(transport).AddEndpoint(Name, $"{ScriptedTransport.Scheme}://{Name}");
        if (configuration is null)
        {
            ipc.ConfigureResilience(Name, r =>
            {
                r.TotalTimeout = Timeout.InfiniteTimeSpan;
                r.AttemptTimeout = Timeout.InfiniteTimeSpan;
                r.Retry.Delay = TimeSpan.Zero;
                r.Retry.UseJitter = false;
                r.CircuitBreaker.MinimumThroughput = 1000;
            });
        }

        if (resilience is not null)
        {
            ipc.ConfigureResilience(Name, resilience);
        }

        return new ScriptedEndpoint(collection.BuildServiceProvider(validateScopes: true), transport, time);
    }

    public Task<string> RequestAsync(string text = "hello", IpcCallOptions? options = null, CancellationToken cancellationToken = default) =>
        Client.RequestAsync<string, string>("echo", text, options, cancellationToken).AsTask().WaitAsync(TestSupport.Bound);

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
