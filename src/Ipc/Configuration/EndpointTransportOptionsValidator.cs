using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc;

/// <summary>
/// Checks at start the transport options of every endpoint (set in its section, <c>Ipc:Endpoints:&lt;name&gt;:&lt;section&gt;</c>,
/// or in code for its name), so a bad value fails <c>host.StartAsync()</c> in a process that is only a client too, not its
/// first call. The transport-wide options are checked by the transport's own <c>ValidateOnStart</c>: while they fail, the
/// endpoints (which start from them) are not checked, so a transport-wide mistake is reported once, under its own name.
/// </summary>
internal sealed class EndpointTransportOptionsValidator<TOptions>(IServiceProvider services) : IValidateOptions<IpcOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, IpcOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var monitor = services.GetRequiredService<IOptionsMonitor<TOptions>>();
        try
        {
            _ = monitor.Get(Options.DefaultName);
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            return ValidateOptionsResult.Skip; // the transport-wide options fail their own check at start
        }

        List<string>? failures = null;
        foreach (var endpoint in options.Endpoints.Keys)
        {
            try
            {
                _ = monitor.Get(endpoint);
            }
            catch (OptionsValidationException ex)
            {
                (failures ??= []).AddRange(ex.Failures);
            }
            catch (InvalidOperationException ex)
            {
                // A value that does not convert (a number of "many"): the binder's message names the key.
                (failures ??= []).Add(ex.Message + " Fix the value, or remove the key to use the default.");
            }
        }

        return failures is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
