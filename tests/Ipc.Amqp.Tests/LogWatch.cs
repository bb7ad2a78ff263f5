using Microsoft.Extensions.Logging;

namespace Ipc.Amqp.Tests;

/// <summary>A logger provider that completes <see cref="Logged"/> with the text of the first event <paramref name="eventId"/> logged.</summary>
public sealed class LogWatch(int eventId) : ILoggerProvider, ILogger
{
    private readonly TaskCompletionSource<string> _logged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<string> Logged => _logged.Task;

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId logged, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logged.Id == eventId)
        {
            _logged.TrySetResult(formatter(state, exception));
        }
    }

    public void Dispose()
    {
    }
}
