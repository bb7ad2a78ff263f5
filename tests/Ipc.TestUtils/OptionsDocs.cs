using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.TestUtils;

/// <summary>One row of an options table in docs/*.md: the keys it names (nested ones as <c>Tls:CertificatePath</c>), the
/// documented default of each, and its meaning.</summary>
public sealed record OptionsRow(string Document, int Line, string Key, string Default, string Meaning)
{
    /// <summary>Where the row is, for failure messages.</summary>
    public string Where => $"{Document}:{Line} `{Key}`";
}

/// <summary>Checks a documented default the parser cannot read on its own (a phrase such as "the address's host"):
/// returns why <paramref name="value"/> does not match, or <see langword="null"/> when it does.</summary>
public delegate string? DefaultCheck(string key, object? value);

/// <summary>
/// Keeps the options tables of docs/*.md (<c>| Option | Default | Meaning |</c>, <c>| Key | Default | ... |</c>) honest
/// against the options classes: each row names a real property, each bindable property has a row, each documented default
/// is the value of a new instance, and each range "(a to b)" or "(a-b)" of the meaning is what the validator accepts.
/// Every check returns its problems, each naming the row and why, so a test asserts there are none.
/// </summary>
/// <remarks>
/// Defaults are read strictly: <c>true</c>/<c>false</c>; enum names (<c>UserRead, UserWrite</c>); integers with or without
/// thousands separators (<c>1,024</c>, <c>16777216</c>), optionally followed by their size in parentheses (<c>(16 MiB)</c>);
/// TimeSpans as <c>00:00:05</c> (optionally followed by <c>(50 us)</c>); <c>null</c>, <c>none</c>, <c>(none)</c>, <c>-</c>,
/// <c>not set</c> (also followed by <c>: what it means</c> or <c>(what it means)</c>) for a null value; <c>empty</c> for an
/// empty list; <c>as for [page](page.md#anchor)</c> for the default of the same key in that page's tables. Any other phrase
/// must be given to <see cref="CheckDefaults"/> with its check, or the row fails.
/// </remarks>
public static partial class OptionsDocs
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Ipc.Abstractions.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Ipc.Abstractions.sln not found above " + AppContext.BaseDirectory);
    });

    /// <summary>Gets the repository's root folder.</summary>
    public static string Root => s_root.Value;

    /// <summary>A check for a default written in words that means null, such as "the address's host".</summary>
    public static DefaultCheck Null(string meaning) => (_, value) => value is null ? null : $"the value is {Show(value)}, not null ({meaning}).";

    /// <summary>
    /// The options a transport's registration gives an endpoint when the configuration sets nothing: what a table's
    /// defaults must be, whether they come from the class's initializers or from the registration.
    /// </summary>
    public static TOptions Bound<TOptions>(Func<IIpcBuilder, IIpcBuilder> register)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(register);
        var services = new ServiceCollection();
        register(services.AddIpc(new ConfigurationBuilder().Build()));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptionsMonitor<TOptions>>().Get("orders");
    }

    /// <summary>
    /// Reads the <paramref name="occurrence"/>-th table of <paramref name="document"/> (<c>docs/sockets.md</c>) whose header
    /// starts with <paramref name="header"/>, one row per key it names. A header <c>| Option (`Tls:`) |</c> puts its prefix
    /// before each key; in a cell naming several keys (<c>`Tls:CertificatePath`, `CertificateKeyPath`</c>) the first key's
    /// prefix goes before the others; keys separated by <c> / </c> take the defaults separated the same way.
    /// </summary>
    public static IReadOnlyList<OptionsRow> Table(string document, string header = "| Option ", int occurrence = 0)
    {
        var lines = File.ReadAllLines(Path.Combine(Root, document));
        var starts = Enumerable.Range(0, lines.Length).Where(i => lines[i].StartsWith(header, StringComparison.Ordinal)).ToList();
        if (occurrence >= starts.Count)
        {
            throw new InvalidOperationException($"{document}: no table #{occurrence + 1} with a header starting '{header}' ({starts.Count} found).");
        }

        var start = starts[occurrence];
        var headerPrefix = HeaderPrefix().Match(lines[start]) is { Success: true } h ? h.Groups["prefix"].Value : string.Empty;
        var rows = new List<OptionsRow>();
        for (var i = start + 2; i < lines.Length && lines[i].StartsWith('|'); i++)
        {
            var cells = lines[i].Trim().Trim('|').Split('|');
            if (cells.Length != 3)
            {
                throw new InvalidOperationException($"{document}:{i + 1}: expected 3 cells, found {cells.Length}.");
            }

            var (names, defaults, meaning) = (cells[0].Trim(), cells[1].Trim(), cells[2].Trim());
            var keys = Code().Matches(names).Select(m => m.Groups["code"].Value).ToList();
            if (keys.Count == 0)
            {
                throw new InvalidOperationException($"{document}:{i + 1}: the first cell names no `key`.");
            }

            var slash = names.Contains(" / ", StringComparison.Ordinal);
            var split = slash ? defaults.Split(" / ") : [defaults];
            if (slash && split.Length != keys.Count)
            {
                throw new InvalidOperationException($"{document}:{i + 1}: {keys.Count} keys separated by ' / ' need as many defaults separated the same way, found '{defaults}'.");
            }

            var prefix = keys[0].LastIndexOf(':') is var colon and >= 0 ? keys[0][..(colon + 1)] : string.Empty;
            for (var k = 0; k < keys.Count; k++)
            {
                var key = k > 0 && !keys[k].Contains(':', StringComparison.Ordinal) ? prefix + keys[k] : keys[k];
                rows.Add(new OptionsRow(document, i + 1, headerPrefix + key, split[slash ? k : 0].Trim(), meaning));
            }
        }

        return rows;
    }

    /// <summary>
    /// Checks that each row names a property of <paramref name="options"/> (a nested one by <c>Tls:Name</c>) and that the
    /// property's value there is the documented default. <paramref name="phrases"/> lists the other ways the table writes a
    /// default, each with its check.
    /// </summary>
    public static IEnumerable<string> CheckDefaults(object options, IEnumerable<OptionsRow> rows, IReadOnlyDictionary<string, DefaultCheck>? phrases = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var row in rows)
        {
            if (Property(options.GetType(), row.Key) is not { } property)
            {
                yield return $"{row.Where}: {options.GetType().Name} has no public property {row.Key.Replace(':', '.')}.";
                continue;
            }

            var value = Read(options, row.Key);
            if (Check(row.Document, row.Key, row.Default, property.PropertyType, value, phrases) is { } problem)
            {
                yield return $"{row.Where}: default '{row.Default}': {problem}";
            }
        }
    }

    /// <summary>
    /// Checks that every bindable property of <paramref name="optionsType"/> has a row: public ones with a public setter, and
    /// get-only lists and nested options (of an <c>Ipc</c> namespace, whose own properties are checked in turn unless a row
    /// names the nested object itself). Delegates are left out: configuration cannot set them. <paramref name="excluded"/>
    /// maps keys documented elsewhere on purpose to the reason; an exclusion that matches no property is a problem too.
    /// </summary>
    public static IEnumerable<string> CheckCoverage(Type optionsType, IEnumerable<OptionsRow> rows, IReadOnlyDictionary<string, string>? excluded = null, string document = "the docs")
    {
        ArgumentNullException.ThrowIfNull(optionsType);
        var documented = rows.Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        excluded ??= new Dictionary<string, string>();
        var all = Keys(optionsType, string.Empty).ToList();
        foreach (var key in all)
        {
            var covered = documented.Contains(key) || excluded.ContainsKey(key)
                || documented.Concat(excluded.Keys).Any(k => key.StartsWith(k + ":", StringComparison.Ordinal) || k.StartsWith(key + ":", StringComparison.Ordinal));
            if (!covered)
            {
                yield return $"{optionsType.Name}.{key.Replace(':', '.')} has no row in {document}: document it, or exclude it in the test with the reason.";
            }
        }

        foreach (var key in excluded.Keys.Where(k => !all.Any(a => a == k || a.StartsWith(k + ":", StringComparison.Ordinal))))
        {
            yield return $"The exclusion '{key}' matches no property of {optionsType.Name}; remove it.";
        }
    }

    /// <summary>
    /// Checks each range the meaning states as "(a to b)" or "(a-b)" (also after a comma inside parentheses, such as
    /// "(HTTP/2 ..., 1-100,000)", and "from a to b"), in numbers (<c>1,048,576</c>), sizes (<c>64 KiB</c>) or durations (<c>1 ms</c>,
    /// <c>1 second</c>, <c>10 minutes</c>, <c>1 day</c>; a bare <c>0</c> takes the other bound's unit): a new options object
    /// with the property at either bound passes <paramref name="validate"/>, and one a step outside (1, or one tick) fails
    /// naming the key. <paramref name="arrange"/> can first set what a cross-check needs (for a key, on the object).
    /// </summary>
    /// <returns>The problems, the keys whose range was checked, and the keys of properties with a <see cref="RangeAttribute"/>
    /// whose range no row states that way (a test lists them, so one that loses its documented range is noticed).</returns>
    public static (IReadOnlyList<string> Problems, IReadOnlyList<string> Checked, IReadOnlyList<string> Unstated) CheckRanges<TOptions>(
        IEnumerable<OptionsRow> rows, Func<TOptions> create, Func<TOptions, IEnumerable<string>> validate, Action<string, TOptions>? arrange = null)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(create);
        ArgumentNullException.ThrowIfNull(validate);
        var problems = new List<string>();
        var checkedKeys = new List<string>();
        foreach (var row in rows.DistinctBy(r => (r.Line, r.Key)))
        {
            var ranges = RangeText().Matches(row.Meaning);
            if (ranges.Count == 0)
            {
                continue;
            }

            if (ranges.Count > 1)
            {
                problems.Add($"{row.Where}: {ranges.Count} ranges in the meaning; write one.");
                continue;
            }

            if (Property(typeof(TOptions), row.Key)?.PropertyType is not { } type || (type != typeof(int) && type != typeof(TimeSpan)))
            {
                problems.Add($"{row.Where}: range '{ranges[0].Value}' on a key that is not an int or TimeSpan property.");
                continue;
            }

            var (lowText, highText) = (ranges[0].Groups["low"].Value, ranges[0].Groups["high"].Value);
            object? low = Bound(lowText, highText, type), high = Bound(highText, lowText, type);
            if (low is null || high is null)
            {
                problems.Add($"{row.Where}: cannot read the range '{ranges[0].Value}' as {type.Name} bounds.");
                continue;
            }

            object below = type == typeof(int) ? (int)low - 1 : (TimeSpan)low - TimeSpan.FromTicks(1);
            object above = type == typeof(int) ? (int)high + 1 : (TimeSpan)high + TimeSpan.FromTicks(1);
            foreach (var (value, valid) in new[] { (low, true), (high, true), (below, false), (above, false) })
            {
                var options = create();
                arrange?.Invoke(row.Key, options);
                Property(typeof(TOptions), row.Key)!.SetValue(Owner(options, row.Key), value);
                var failures = validate(options).Where(f => Mentions(f, row.Key)).ToList();
                if (valid && failures.Count > 0)
                {
                    problems.Add($"{row.Where}: the documented bound {value} (of '{ranges[0].Value}') fails validation: {string.Join(" ", failures)}");
                }
                else if (!valid && failures.Count == 0)
                {
                    problems.Add($"{row.Where}: {value}, just outside the documented range '{ranges[0].Value}', passes validation.");
                }
            }

            checkedKeys.Add(row.Key);
        }

        var unstated = Keys(typeof(TOptions), string.Empty)
            .Where(key => Property(typeof(TOptions), key)?.GetCustomAttribute<RangeAttribute>() is not null && !checkedKeys.Contains(key))
            .ToList();
        return (problems, checkedKeys, unstated);
    }

    /// <summary><see cref="CheckRanges{TOptions}(IEnumerable{OptionsRow}, Func{TOptions}, Func{TOptions, IEnumerable{string}}, Action{string, TOptions}?)"/> with an options validator.</summary>
    public static (IReadOnlyList<string> Problems, IReadOnlyList<string> Checked, IReadOnlyList<string> Unstated) CheckRanges<TOptions>(
        IEnumerable<OptionsRow> rows, Func<TOptions> create, IValidateOptions<TOptions> validator, Action<string, TOptions>? arrange = null)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(validator);
        return CheckRanges(rows, create, options => validator.Validate(null, options).Failures ?? [], arrange);
    }

    /// <summary>Fails with every problem, one a line, when there is any.</summary>
    public static void AssertNone(IEnumerable<string> problems)
    {
        var list = problems.ToList();
        Xunit.Assert.True(list.Count == 0, $"{list.Count} problem(s):\n" + string.Join("\n", list));
    }

    private static bool Mentions(string failure, string key)
    {
        var at = failure.IndexOf(":" + key, StringComparison.Ordinal);
        var end = at + key.Length + 1;
        return at >= 0 && (end == failure.Length || failure[end] is ':' or ' ');
    }

    private static IEnumerable<string> Keys(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.GetIndexParameters().Length == 0))
        {
            var t = property.PropertyType;
            var key = prefix + property.Name;
            if (typeof(Delegate).IsAssignableFrom(t))
            {
                continue;
            }

            if (IsNested(t))
            {
                yield return key;
                foreach (var inner in Keys(t, key + ":"))
                {
                    yield return inner;
                }
            }
            else if (property.SetMethod is { IsPublic: true } || (t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(t)))
            {
                yield return key;
            }
        }
    }

    private static bool IsNested(Type type) =>
        type.IsClass && type != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(type) && type.Namespace?.StartsWith("Ipc", StringComparison.Ordinal) == true;

    private static PropertyInfo? Property(Type type, string key)
    {
        PropertyInfo? property = null;
        foreach (var part in key.Split(':'))
        {
            property = type.GetProperty(part, BindingFlags.Public | BindingFlags.Instance);
            if (property is null)
            {
                return null;
            }

            type = property.PropertyType;
        }

        return property;
    }

    private static object? Owner(object options, string key) =>
        key.LastIndexOf(':') is var colon and >= 0 ? Read(options, key[..colon]) : options;

    /// <summary>Reads the setting at <paramref name="key"/> (<c>Tls:CertificatePath</c>) of <paramref name="options"/>.</summary>
    public static object? Read(object? options, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        foreach (var part in key.Split(':'))
        {
            options = options?.GetType().GetProperty(part, BindingFlags.Public | BindingFlags.Instance)?.GetValue(options);
        }

        return options;
    }

    /// <summary>Why <paramref name="value"/> is not the default <paramref name="text"/> documents, or null when it is.</summary>
    private static string? Check(string document, string key, string text, Type type, object? value, IReadOnlyDictionary<string, DefaultCheck>? phrases)
    {
        if (phrases is not null && phrases.TryGetValue(text, out var phrase))
        {
            return phrase(key, value);
        }

        if (AsFor().Match(text) is { Success: true } asFor)
        {
            var other = Path.Combine(Path.GetDirectoryName(document) ?? string.Empty, asFor.Groups["page"].Value);
            var tables = File.ReadAllLines(Path.Combine(Root, other)).Count(l => l.StartsWith("| Option", StringComparison.Ordinal));
            var rows = Enumerable.Range(0, tables).SelectMany(n => Table(other, "| Option", n)).Where(r => r.Key == key).ToList();
            return rows.Count == 1
                ? Check(other, key, rows[0].Default, type, value, phrases) is { } problem ? $"as for {other}:{rows[0].Line}: {problem}" : null
                : $"{other} has {rows.Count} rows for `{key}`, not one.";
        }

        if (text.Length == 0)
        {
            return IsNested(type) ? null : "an empty default is only for a row that names a nested options object.";
        }

        if (NullWords().IsMatch(text))
        {
            return value is null ? null : $"the value is {Show(value)}, not null.";
        }

        if (text == "empty")
        {
            return value is IEnumerable items && type != typeof(string)
                ? items.Cast<object?>().Any() ? $"the list holds {items.Cast<object?>().Count()} items." : null
                : "'empty' is only for a list.";
        }

        var literal = Literal().Match(text);
        if (!literal.Success)
        {
            return "cannot read it: write a value in backticks or a plain number, optionally followed by '(what it is)', or give the test this phrase with its check.";
        }

        var (main, note) = (literal.Groups["main"].Value, literal.Groups["note"].Success ? literal.Groups["note"].Value : null);
        var target = Nullable.GetUnderlyingType(type) ?? type;
        object? parsed = Parse(main, target);
        if (parsed is null)
        {
            return $"cannot read '{main}' as {target.Name}.";
        }

        if (note is not null && Note(note, target, parsed) is { } noteProblem)
        {
            return noteProblem;
        }

        return Equals(parsed, value) ? null : $"the value is {Show(value)}.";
    }

    private static object? Parse(string text, Type type)
    {
        if (type == typeof(bool))
        {
            return text switch { "true" => true, "false" => false, _ => null };
        }

        if (type.IsEnum)
        {
            return text.Split(", ").All(name => Enum.GetNames(type).Contains(name, StringComparer.Ordinal)) ? Enum.Parse(type, text) : null;
        }

        if (type == typeof(int))
        {
            return Integer().IsMatch(text) ? int.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) : null;
        }

        if (type == typeof(TimeSpan))
        {
            return TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out var span) ? span : Duration(text);
        }

        if (type == typeof(string))
        {
            return text;
        }

        return null;
    }

    /// <summary>Checks what a default's parenthesis says, such as <c>(16 MiB)</c>, <c>(50 us)</c> or <c>(0600)</c>.</summary>
    private static string? Note(string note, Type type, object parsed)
    {
        if (type == typeof(int) && Size(note) is { } size)
        {
            return size == (int)parsed ? null : $"'({note})' is {size}, not {parsed}.";
        }

        if (type == typeof(TimeSpan) && Duration(note) is { } span)
        {
            return span == (TimeSpan)parsed ? null : $"'({note})' is {span}, not {parsed}.";
        }

        if (type == typeof(UnixFileMode) && Octal().IsMatch(note))
        {
            return Convert.ToInt32(note, 8) == (int)parsed ? null : $"'({note})' is not {parsed}.";
        }

        return $"cannot read '({note})' as the size, duration or mode of the value.";
    }

    /// <summary>A bound of a range: a number, a size, or a duration; a bare number takes the unit of the other bound.</summary>
    private static object? Bound(string text, string other, Type type)
    {
        if (type == typeof(int))
        {
            return Size(text) is { } size ? size : Integer().IsMatch(text) ? int.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) : null;
        }

        if (Integer().IsMatch(text) && Duration(other) is not null && Unit().Match(other) is { Success: true } unit)
        {
            text = $"{text} {unit.Value}";
        }

        return Duration(text);
    }

    private static int? Size(string text)
    {
        var match = SizeText().Match(text);
        if (!match.Success)
        {
            return null;
        }

        var number = long.Parse(match.Groups["n"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        var bytes = number * match.Groups["unit"].Value switch { "KiB" => 1L << 10, "MiB" => 1L << 20, "GiB" => 1L << 30, _ => 1L };
        return bytes <= int.MaxValue ? (int)bytes : null;
    }

    private static TimeSpan? Duration(string text)
    {
        var match = DurationText().Match(text);
        if (!match.Success)
        {
            return null;
        }

        var n = double.Parse(match.Groups["n"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
        return match.Groups["unit"].Value switch
        {
            "us" => TimeSpan.FromTicks((long)(n * 10)),
            "ms" => TimeSpan.FromTicks((long)(n * TimeSpan.TicksPerMillisecond)),
            "s" or "second" or "seconds" => TimeSpan.FromTicks((long)(n * TimeSpan.TicksPerSecond)),
            "minute" or "minutes" => TimeSpan.FromTicks((long)(n * TimeSpan.TicksPerMinute)),
            "h" or "hour" or "hours" => TimeSpan.FromTicks((long)(n * TimeSpan.TicksPerHour)),
            "day" or "days" => TimeSpan.FromTicks((long)(n * TimeSpan.TicksPerDay)),
            _ => null,
        };
    }

    private static string Show(object? value) => value switch
    {
        null => "null",
        string s => $"'{s}'",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    [GeneratedRegex(@"^\| Option \(`(?<prefix>[A-Za-z]+:)`\)")]
    private static partial Regex HeaderPrefix();

    [GeneratedRegex("`(?<code>[^`]+)`")]
    private static partial Regex Code();

    [GeneratedRegex(@"^as for \[[^\]]+\]\((?<page>[a-z-]+\.md)(#[a-z0-9-]+)?\)$")]
    private static partial Regex AsFor();

    [GeneratedRegex(@"^(`null`|null|none|\(none\)|-|not set)(: .+| \(.+\))?$")]
    private static partial Regex NullWords();

    [GeneratedRegex(@"^(`(?<main>[^`]+)`|(?<main>[0-9][0-9,]*))( \((?<note>[^()]+)\))?$")]
    private static partial Regex Literal();

    [GeneratedRegex(@"^([0-9]{1,3}(,[0-9]{3})+|[0-9]+)$")]
    private static partial Regex Integer();

    [GeneratedRegex(@"^0[0-7]{3}$")]
    private static partial Regex Octal();

    [GeneratedRegex(@"^(?<n>[0-9]{1,3}(,[0-9]{3})*|[0-9]+) (?<unit>KiB|MiB|GiB)$")]
    private static partial Regex SizeText();

    [GeneratedRegex(@"^(?<n>[0-9]+(\.[0-9]+)?) (?<unit>us|ms|s|seconds?|minutes?|h|hours?|days?)$")]
    private static partial Regex DurationText();

    [GeneratedRegex(@"[a-z]+$")]
    private static partial Regex Unit();

    /// <summary>"(a to b" or "(a-b", also after ", " inside parentheses or after "from ", ending at ")", ",", ";" or ".".</summary>
    [GeneratedRegex(@"(?<=\(|\([^()]*, |\bfrom )(?<low>[0-9][0-9,.]*(?: (?:KiB|MiB|GiB|us|ms|s|seconds?|minutes?|h|hours?|days?))?)(?: to |-)(?<high>[0-9][0-9,.]*(?: (?:KiB|MiB|GiB|us|ms|s|seconds?|minutes?|h|hours?|days?))?)(?=[;,).])")]
    private static partial Regex RangeText();
}
