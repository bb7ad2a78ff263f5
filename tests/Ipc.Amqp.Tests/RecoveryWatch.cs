using Microsoft.Extensions.Logging;

namespace Ipc.Amqp.Tests;

/// <summary>A logger provider that completes <see cref="Recovered"/> when the AMQP transport logs that its connection recovered (event 1701).</summary>
public sealed class RecoveryWatch : ILoggerProvider, ILogger
{
    private readonly TaskCompletionSource _recovered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Recovered => _recovered.Task;

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == 1701)
        {
            _recovered.TrySetResult();
        }
    }

    public void Dispose()
    {
    }
}
