using System.Text.RegularExpressions;

namespace Ipc.Tests.Docs;

/// <summary>
/// Keeps docs/observability.md's log reference true to the code: every log event the packages declare is in its table
/// with its level, no row names an event that does not exist, and every log category the packages create is listed.
/// </summary>
public sealed partial class ObservabilityDocsTests
{
    private static readonly string s_root = FindRoot();

    [Fact]
    public void LogTable_ListsEveryEventWithItsLevel()
    {
        var declared = new Dictionary<int, string?>();
        foreach (var file in Sources().Where(f => Path.GetFileName(f) == "Log.cs"))
        {
            foreach (Match match in LoggerMessage().Matches(File.ReadAllText(file)))
            {
                var id = int.Parse(match.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(declared.TryAdd(id, match.Groups["level"].Success ? match.Groups["level"].Value : null), $"event {id} is declared twice");
            }
        }

        var documented = new Dictionary<int, string>();
        foreach (var line in File.ReadLines(Path.Combine(s_root, "docs", "observability.md")))
        {
            var row = EventRow().Match(line);
            if (row.Success)
            {
                documented.Add(int.Parse(row.Groups["id"].Value, System.Globalization.CultureInfo.InvariantCulture), row.Groups["level"].Value);
            }
        }

        Assert.True(declared.Count > 40, $"found only {declared.Count} events in the sources' Log.cs files");
        Assert.Empty(declared.Keys.Except(documented.Keys).Select(id => $"event {id} is not in docs/observability.md"));
        Assert.Empty(documented.Keys.Except(declared.Keys).Select(id => $"docs/observability.md lists event {id}, which no Log.cs declares"));
        Assert.Empty(declared.Where(e => e.Value is not null && !documented[e.Key].StartsWith(e.Value, StringComparison.Ordinal))
            .Select(e => $"event {e.Key} is logged at {e.Value}, docs/observability.md says {documented[e.Key]}"));
    }

    [Fact]
    public void LogCategories_ListsEveryCategoryThePackagesCreate()
    {
        var categories = Sources().SelectMany(f => CreateLogger().Matches(File.ReadAllText(f)).Select(m => m.Groups["category"].Value)).ToHashSet(StringComparer.Ordinal);
        var row = File.ReadLines(Path.Combine(s_root, "docs", "observability.md")).Single(l => l.StartsWith("| Log categories |", StringComparison.Ordinal));
        var listed = Backticked().Matches(row).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);

        Assert.Contains("Ipc.Server", categories);
        Assert.Empty(categories.Except(listed).Select(c => $"category {c} is not listed in docs/observability.md"));
        Assert.Empty(listed.Except(categories).Select(c => $"docs/observability.md lists category {c}, which no package creates"));
    }

    private static IEnumerable<string> Sources() =>
        Directory.EnumerateFiles(Path.Combine(s_root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Ipc.Abstractions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Ipc.Abstractions.sln) was not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\[LoggerMessage\((?:(?<id>\d+),\s*LogLevel\.(?<level>\w+)|EventId\s*=\s*(?<id>\d+))")]
    private static partial Regex LoggerMessage();

    [GeneratedRegex(@"^\|\s*(?<id>\d+)\s*\|\s*(?<level>[^|]+?)\s*\|")]
    private static partial Regex EventRow();

    [GeneratedRegex(@"CreateLogger\(""(?<category>[^""]+)""\)")]
    private static partial Regex CreateLogger();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex Backticked();
}
