using Microsoft.Extensions.Options;

namespace Ipc.Transports;

/// <summary>
/// A base for the validator of a transport's options (bound with <c>BindTransportOptions</c>): it runs the data
/// annotations' validator given (the source-generated one) and the checks of <see cref="Check"/>, and prefixes every
/// failure with the key of the instance it validates, <c>Ipc:Transports:&lt;section&gt;</c> for the transport-wide options
/// and <c>Ipc:Endpoints:&lt;name&gt;:&lt;section&gt;</c> for an endpoint's, so the message says what to fix.
/// </summary>
/// <typeparam name="TOptions">The transport's options.</typeparam>
public abstract class TransportOptionsValidator<TOptions> : IValidateOptions<TOptions>
    where TOptions : class
{
    private readonly string _sectionName;
    private readonly IValidateOptions<TOptions>? _annotations;

    /// <summary>Initializes a new instance of the <see cref="TransportOptionsValidator{TOptions}"/> class.</summary>
    /// <param name="sectionName">The transport's section name, as given to <c>BindTransportOptions</c>.</param>
    /// <param name="annotations">The validator of the options' data annotations, if any.</param>
    protected TransportOptionsValidator(string sectionName, IValidateOptions<TOptions>? annotations = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(sectionName);
        _sectionName = sectionName;
        _annotations = annotations;
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var section = string.IsNullOrEmpty(name) ? $"Ipc:Transports:{_sectionName}" : $"Ipc:Endpoints:{name}:{_sectionName}";
        var failures = new List<string>();
        if (_annotations?.Validate(name, options) is { Failed: true } data)
        {
            failures.AddRange(data.Failures.Select(failure => $"{section}: {failure}"));
        }

        Check(section, options, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Checks what the data annotations cannot; each failure starts with <paramref name="section"/> and says what to fix.</summary>
    /// <param name="section">The key of the options being validated, for example <c>Ipc:Endpoints:orders:Sockets</c>.</param>
    /// <param name="options">The options.</param>
    /// <param name="failures">Where to add failures.</param>
    protected virtual void Check(string section, TOptions options, ICollection<string> failures)
    {
    }
}
