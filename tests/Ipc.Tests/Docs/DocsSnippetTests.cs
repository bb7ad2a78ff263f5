using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ipc.Tests.Docs;

/// <summary>
/// Keeps the docs honest: every C# block in README.md, docs/ and the package and sample READMEs is a copy of a
/// <c>#region</c> in a file the solution builds, named by the <c>&lt;!-- snippet: path#region --&gt;</c> line above it;
/// every JSON block parses.
/// </summary>
public sealed partial class DocsSnippetTests
{
    private static readonly string s_root = FindRoot();

    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string>();
        var files = new[] { Path.Combine(s_root, "README.md") }
            .Concat(Directory.EnumerateFiles(Path.Combine(s_root, "docs"), "*.md"))
            .Concat(Directory.EnumerateFiles(Path.Combine(s_root, "samples"), "README.md", SearchOption.AllDirectories))
            .Concat(Directory.EnumerateFiles(Path.Combine(s_root, "src"), "README.md", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(s_root, file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void CodeBlocks_ComeFromBuiltSourcesAndParse(string document)
    {
        var lines = File.ReadAllLines(Path.Combine(s_root, document));
        var problems = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            var fence = lines[i].Trim();
            if (!fence.StartsWith("```", StringComparison.Ordinal) || fence.Length == 3)
            {
                continue;
            }

            var language = fence[3..].Trim();
            var end = Array.FindIndex(lines, i + 1, l => l.Trim() == "```");
            Assert.True(end > i, $"{document}:{i + 1}: code block is not closed");
            var body = string.Join('\n', lines[(i + 1)..end]);
            if (language is "csharp" or "cs" or "c#")
            {
                var marker = i > 0 ? SnippetMarker().Match(lines[i - 1]) : Match.Empty;
                if (!marker.Success)
                {
                    problems.Add($"{document}:{i + 1}: a C# block needs a '<!-- snippet: path#region -->' line above it, naming the built file it is copied from");
                }
                else
                {
                    var expected = Region(marker.Groups["path"].Value, marker.Groups["region"].Value);
                    if (expected is null)
                    {
                        problems.Add($"{document}:{i + 1}: region '{marker.Groups["region"].Value}' not found in {marker.Groups["path"].Value}");
                    }
                    else if (!string.Equals(Normalize(expected), Normalize(body), StringComparison.Ordinal))
                    {
                        problems.Add($"{document}:{i + 1}: the block differs from {marker.Groups["path"].Value}#{marker.Groups["region"].Value}; copy the region again:\n{expected}");
                    }
                }
            }
            else if (language == "json")
            {
                try
                {
                    using var _ = JsonDocument.Parse(body, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
                }
                catch (JsonException ex)
                {
                    problems.Add($"{document}:{i + 1}: JSON block does not parse: {ex.Message}");
                }
            }

            i = end;
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static string? Region(string relativePath, string region)
    {
        var path = Path.Combine(s_root, relativePath);
        if (!File.Exists(path))
        {
            return null;
        }

        var lines = File.ReadAllLines(path);
        var start = Array.FindIndex(lines, l => l.Trim() == $"#region {region}" || l.Trim() == $"// #region {region}");
        if (start < 0)
        {
            return null;
        }

        var end = Array.FindIndex(lines, start + 1, l => l.Trim() is "#endregion" or "// #endregion");
        var body = lines[(start + 1)..end];
        var indent = body.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join('\n', body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    private static string Normalize(string text) => string.Join('\n', text.Split('\n').Select(l => l.TrimEnd())).Trim();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Ipc.Abstractions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Ipc.Abstractions.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"<!--\s*snippet:\s*(?<path>[^#\s]+)#(?<region>[\w\-]+)\s*-->")]
    private static partial Regex SnippetMarker();
}
