using System.Buffers;
using Ipc.Serialization;
using Ipc.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Ipc.Tests.Server;

/// <summary>A dispatcher driven directly, as a transport drives it, with its time and log in the test's hands.</summary>
public sealed partial class IpcDispatcherTests
{
    private static readonly MessagePackIpcSerializer s_serializer = new();

    private static Dispatcher CreateDispatcher(Action<IpcServerBuilder> map, TimeProvider? time = null, Action<IIpcBuilder>? ipc = null, Action<IpcEndpointOptions>? endpoint = null)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        var builder = services.AddIpc().AddEndpoint("calc", TestSupport.NewAddress(), endpoint).AddServer("calc", map);
        ipc?.Invoke(builder);
        var provider = services.BuildServiceProvider(validateScopes: true);
        var log = new ListLogger();
        var dispatcher = new IpcDispatcher(
            provider.GetRequiredService<EndpointRegistry>().Get("calc"),
            provider.GetRequiredService<IpcServerDefinition>(),
            provider.GetRequiredService<IServiceScopeFactory>(),
            log);
        return new Dispatcher(dispatcher, provider, log);
    }

    private static IpcMessage Message<T>(string route, T value, TimeSpan? timeout = null)
    {
        var body = new ArrayBufferWriter<byte>();
        s_serializer.Serialize(body, value);
        return new IpcMessage(route, body.WrittenMemory.ToArray()) { ContentType = s_serializer.ContentType, Timeout = timeout };
    }

    private static T Decode<T>(IpcMessage response)
    {
        Assert.Null(response.Fault);
        return s_serializer.Deserialize<T>(response.Body);
    }

    private sealed class Dispatcher(IpcDispatcher dispatcher, ServiceProvider services, ListLogger log) : IAsyncDisposable
    {
        public IpcDispatcher Inner { get; } = dispatcher;

        public ListLogger Log { get; } = log;

        public ValueTask DisposeAsync() => services.DisposeAsync();
    }

    /// <summary>Keeps what was logged, exceptions included.</summary>
    private sealed class ListLogger : ILogger
    {
        private readonly List<(LogLevel Level, string Message, Exception? Exception)> _entries = [];

        public IReadOnlyList<(LogLevel Level, string Message, Exception? Exception)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
            {
                _entries.Add((logLevel, formatter(state, exception), exception));
            }
        }
    }
}
