using Microsoft.Extensions.Logging;

namespace Ipc.TestUtils;

/// <summary>A logger provider that keeps the event id, level, message and values of everything logged, and waits for an event.</summary>
public sealed class EventLog : ILoggerProvider
{
    private readonly List<Entry> _entries = [];
    private readonly List<(Func<Entry, bool> Match, TaskCompletionSource<Entry> Found)> _waiters = [];

    /// <summary>Gets each entry logged, in order.</summary>
    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    /// <summary>Completes with the first entry (logged before or after the call) that <paramref name="match"/> accepts.</summary>
    public Task<Entry> WaitForAsync(Func<Entry, bool> match)
    {
        lock (_entries)
        {
            if (_entries.FirstOrDefault(match) is { } logged)
            {
                return Task.FromResult(logged);
            }

            var found = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, found));
            return found.Task;
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(Entry entry)
    {
        lock (_entries)
        {
            _entries.Add(entry);
            foreach (var waiter in _waiters.Where(w => w.Match(entry)).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Found.TrySetResult(entry);
            }
        }
    }

    /// <summary>One entry: its category, event id, level, message and the values it was logged with.</summary>
    public sealed record Entry(string Category, int EventId, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Values)
    {
        /// <summary>Gets the value logged under <paramref name="name"/>, or <see langword="null"/>.</summary>
        public object? this[string name] => Values.TryGetValue(name, out var value) ? value : null;

        /// <summary>Gets the exception logged with the entry, if any.</summary>
        public Exception? Exception { get; init; }
    }

    private sealed class Logger(EventLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().Value)
                : [];
            owner.Add(new Entry(category, eventId.Id, logLevel, formatter(state, exception), values) { Exception = exception });
        }
    }
}
