using System.Numerics;
using Microsoft.Extensions.Options;

namespace Ipc.SharedMemory;

/// <summary>Checks the data annotations of <see cref="SharedMemoryTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class SharedMemoryTransportOptionsDataValidator : IValidateOptions<SharedMemoryTransportOptions>;

/// <summary>Checks <see cref="SharedMemoryTransportOptions"/> at start; every failure names the key to fix.</summary>
internal sealed class SharedMemoryTransportOptionsValidator : IValidateOptions<SharedMemoryTransportOptions>
{
    private readonly SharedMemoryTransportOptionsDataValidator _data = new();

    public ValidateOptionsResult Validate(string? name, SharedMemoryTransportOptions options)
    {
        var section = string.IsNullOrEmpty(name) ? "Ipc:Transports:SharedMemory" : $"Ipc:Endpoints:{name}:SharedMemory";
        var failures = new List<string>();
        var data = _data.Validate(name, options);
        if (data.Failed)
        {
            failures.AddRange(data.Failures.Select(f => $"{section}: {f}"));
        }

        if (!BitOperations.IsPow2(options.RingSize))
        {
            failures.Add($"{section}:RingSize is {options.RingSize}; it must be a power of two, for example 1048576.");
        }

        if (options.Directory is { } directory && (!Path.IsPathFullyQualified(directory) || !System.IO.Directory.Exists(directory)))
        {
            failures.Add($"{section}:Directory '{directory}' must be the absolute path of an existing folder.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
