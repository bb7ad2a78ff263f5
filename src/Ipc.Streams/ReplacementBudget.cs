namespace Ipc.Transports.Streams;

/// <summary>
/// How often a connection's dedicated reader may be replaced: <see cref="Limit"/> times within <see cref="Window"/>. Past
/// that, handlers and callers that hold the reader are what the connection runs, not a start-up's one-off compilation,
/// so its work goes to the thread pool until the window ends; then the reader takes work again and a new window starts.
/// </summary>
/// <remarks>Written by the watchdog while the reader runs work, and by the reader while it runs none: never at once.</remarks>
internal sealed class ReplacementBudget(TimeProvider time)
{
    /// <summary>How many replacements a window allows.</summary>
    public const int Limit = 16;

    /// <summary>The period <see cref="Limit"/> counts over.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private long _windowStart;
    private long _pausedUntil;

    /// <summary>Gets how many replacements the current window has had.</summary>
    public int Count { get; private set; }

    /// <summary>Gets a value indicating whether the reader may run work (the window has room for another replacement).</summary>
    public bool AllowsReaderWork => Count < Limit;

    /// <summary>Counts a replacement; returns <see langword="true"/> when it used up the window's budget.</summary>
    public bool Replaced()
    {
        var now = time.GetTimestamp();
        if (Count == 0 || time.GetElapsedTime(_windowStart, now) >= Window)
        {
            _windowStart = now;
            Count = 0;
        }

        if (++Count != Limit)
        {
            return false;
        }

        Volatile.Write(ref _pausedUntil, _windowStart + (long)(Window.TotalSeconds * time.TimestampFrequency));
        return true;
    }

    /// <summary>While the budget is used up: starts a new window and returns <see langword="true"/> once the old one has ended.</summary>
    public bool TryResume()
    {
        var until = Volatile.Read(ref _pausedUntil);
        if (until == 0)
        {
            return false; // not used up: the reader was replaced a moment ago, and the new one decides
        }

        var now = time.GetTimestamp();
        if (now < until)
        {
            return false;
        }

        Count = 0;
        _windowStart = now;
        Volatile.Write(ref _pausedUntil, 0);
        return true;
    }
}
