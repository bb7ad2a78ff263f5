namespace Tour;

/// <summary>Two numbers to add.</summary>
public sealed record Add(int A, int B);

/// <summary>A small one-way note.</summary>
public sealed record Note(int Sequence, string Text);

/// <summary>The routes the Tour server maps.</summary>
public static class TourRoutes
{
    public const string Add = "add";
    public const string Note = "note";
    public const string NoteCount = "note-count";
}
