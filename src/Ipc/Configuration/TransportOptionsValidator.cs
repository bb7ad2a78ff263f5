using System.Collections;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Transports;

/// <summary>
/// A base for the validator of a transport's options (bound with <c>BindTransportOptions</c>): it runs the data
/// annotations' validator given (the source-generated one) and the checks of <see cref="Check"/>, and names the setting
/// of every failure so the message says what to fix: its configuration key (<c>Ipc:Transports:&lt;section&gt;:&lt;key&gt;</c>
/// or <c>Ipc:Endpoints:&lt;name&gt;:&lt;section&gt;:&lt;key&gt;</c>) when the configuration holds the value, else the
/// options' property, set in code.
/// </summary>
/// <typeparam name="TOptions">The transport's options.</typeparam>
public abstract partial class TransportOptionsValidator<TOptions> : IValidateOptions<TOptions>
    where TOptions : class
{
    private readonly string _sectionName;
    private readonly IValidateOptions<TOptions>? _annotations;
    private readonly IServiceProvider? _services;
    private readonly Lazy<TOptions?> _defaults = new(() => Activator.CreateInstance(typeof(TOptions)) as TOptions);

    /// <summary>Initializes a new instance of the <see cref="TransportOptionsValidator{TOptions}"/> class.</summary>
    /// <param name="sectionName">The transport's section name, as given to <c>BindTransportOptions</c>.</param>
    /// <param name="annotations">The validator of the options' data annotations, if any.</param>
    /// <param name="services">
    /// The services of the app, to tell a value from configuration from one set in code; without them, every failure
    /// is named by its configuration key.
    /// </param>
    protected TransportOptionsValidator(string sectionName, IValidateOptions<TOptions>? annotations = null, IServiceProvider? services = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(sectionName);
        _sectionName = sectionName;
        _annotations = annotations;
        _services = services;
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var path = _services?.GetService<IpcConfigurationPath>();
        var section = $"{path?.Path ?? IpcServiceCollectionExtensions.DefaultSectionName}:{Relative(name, string.Empty).TrimEnd(':')}";
        var failures = new List<string>();
        if (_annotations?.Validate(name, options) is { Failed: true } data)
        {
            failures.AddRange(data.Failures.Select(failure => MemberFailure().Match(failure) is { Success: true } member
                ? $"{section}:{member.Groups["member"].Value.Replace('.', ':')}: {member.Groups["message"].Value}"
                : $"{section}: {failure}"));
        }

        Check(section, options, failures);
        if (failures.Count == 0)
        {
            return ValidateOptionsResult.Success;
        }

        return ValidateOptionsResult.Fail(path is null ? failures : failures.Select(failure => Name(path, section, name, options, failure)));
    }

    /// <summary>Checks what the data annotations cannot; each failure starts with <paramref name="section"/> and a key, and says what to fix.</summary>
    /// <param name="section">The key of the options being validated, for example <c>Ipc:Endpoints:orders:Sockets</c>; write a failure as <c>{section}:&lt;key&gt; ...</c>.</param>
    /// <param name="options">The options.</param>
    /// <param name="failures">Where to add failures.</param>
    protected virtual void Check(string section, TOptions options, ICollection<string> failures)
    {
    }

    /// <summary>The key of a setting relative to the Ipc section: <c>Transports:&lt;section&gt;:&lt;key&gt;</c>, or <c>Endpoints:&lt;name&gt;:&lt;section&gt;:&lt;key&gt;</c>.</summary>
    private string Relative(string? name, string key) =>
        string.IsNullOrEmpty(name) ? $"Transports:{_sectionName}:{key}" : $"Endpoints:{name}:{_sectionName}:{key}";

    /// <summary>
    /// Renames the setting a failure starts with (<c>{section}:&lt;key&gt;</c>): by the configuration key that holds its value,
    /// the endpoint's own or the transport-wide one; by its property, set in code, when no key holds it and it is not the
    /// default. A default value keeps its key when Ipc is bound from configuration (where it would be set).
    /// </summary>
    private string Name(IpcConfigurationPath path, string section, string? name, TOptions options, string failure)
    {
        if (!failure.StartsWith(section + ":", StringComparison.Ordinal) || LeadingKey().Match(failure, section.Length + 1) is not { Success: true } match)
        {
            return failure;
        }

        var key = match.Value.TrimEnd(':');
        var rest = failure[(section.Length + 1 + key.Length)..];
        var value = Read(options, key);
        var source = path.ConfiguredKey(Relative(name, key), value)
            ?? (string.IsNullOrEmpty(name) ? null : path.ConfiguredKey(Relative(null, key), value));
        if (source is not null)
        {
            return source + rest;
        }

        var property = $"{typeof(TOptions).Name}.{Index().Replace(key, "[$1]").Replace(':', '.')}";
        if (value is null || Equals(value, Read(_defaults.Value, key)))
        {
            return path.Section is null ? $"{property}{(string.IsNullOrEmpty(name) ? string.Empty : $" of endpoint '{name}'")}{rest}" : failure;
        }

        return string.IsNullOrEmpty(name)
            ? $"{property} (set in code, for every endpoint){rest}"
            : $"{property} of endpoint '{name}' (set in code){rest}";
    }

    /// <summary>Reads the setting at <paramref name="key"/> (<c>Tls:CertificatePath</c>, <c>Hosts:0</c>) of <paramref name="options"/>.</summary>
    private static object? Read(object? options, string key)
    {
        foreach (var part in key.Split(':'))
        {
            options = options is IList list && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                ? index < list.Count ? list[index] : null
                : options?.GetType().GetProperty(part)?.GetValue(options);
        }

        return options;
    }

    /// <summary>A data annotation failure that names its member: <c>Port: The field ...</c>.</summary>
    [GeneratedRegex(@"^(?:Property )?(?<member>[A-Za-z_][A-Za-z0-9_.]*): (?<message>.*)$", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex MemberFailure();

    /// <summary>The key a failure starts with, after its section: <c>Tls:CertificatePath</c>, <c>Hosts:0:</c>.</summary>
    [GeneratedRegex(@"\G[A-Za-z0-9_]+(?::[A-Za-z0-9_]+)*:?", RegexOptions.CultureInvariant)]
    private static partial Regex LeadingKey();

    /// <summary>A list index in a key: <c>:0</c> of <c>Hosts:0</c>.</summary>
    [GeneratedRegex(@":([0-9]+)(?=:|$)", RegexOptions.CultureInvariant)]
    private static partial Regex Index();
}
