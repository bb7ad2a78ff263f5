using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Ipc.Amqp.Tests;

/// <summary>
/// A logger provider that completes <see cref="Lost"/> and <see cref="Recovered"/> when the AMQP transport logs that its
/// connection was lost (event 1700) and recovered (event 1701), each with the <see cref="Stopwatch"/> timestamp of the first.
/// </summary>
public sealed class RecoveryWatch : ILoggerProvider, ILogger
{
    private readonly TaskCompletionSource<long> _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<long> _recovered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<long> Lost => _lost.Task;

    public Task<long> Recovered => _recovered.Task;

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        switch (eventId.Id)
        {
            case 1700:
                _lost.TrySetResult(Stopwatch.GetTimestamp());
                break;
            case 1701:
                _recovered.TrySetResult(Stopwatch.GetTimestamp());
                break;
        }
    }

    public void Dispose()
    {
    }
}
