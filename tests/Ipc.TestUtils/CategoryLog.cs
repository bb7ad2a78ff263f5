using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Ipc.TestUtils;

/// <summary>A logger provider that keeps the category of everything logged, at every level.</summary>
public sealed class CategoryLog : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _categories = new();

    /// <summary>Gets the category of each entry logged, in order.</summary>
    public IReadOnlyCollection<string> Categories => _categories;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _categories);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> categories) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            categories.Enqueue(category);
    }
}
