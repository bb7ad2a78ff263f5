using System.Globalization;
using System.Numerics;
using Ipc.Transports;
using Microsoft.Extensions.Options;

namespace Ipc.SharedMemory;

/// <summary>Checks the data annotations of <see cref="SharedMemoryTransportOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class SharedMemoryTransportOptionsDataValidator : IValidateOptions<SharedMemoryTransportOptions>;

/// <summary>Checks <see cref="SharedMemoryTransportOptions"/> at start; every failure names what to fix: the configuration key, or the property of a value set in code.</summary>
internal sealed class SharedMemoryTransportOptionsValidator(IServiceProvider? services = null) : TransportOptionsValidator<SharedMemoryTransportOptions>(SharedMemoryTransportOptions.SectionName, new SharedMemoryTransportOptionsDataValidator(), services)
{
    protected override void Check(string section, SharedMemoryTransportOptions options, ICollection<string> failures)
    {
        if (!BitOperations.IsPow2(options.RingSize))
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:RingSize is {options.RingSize}; it must be a power of two, for example 1048576."));
        }

        if (options.Directory is { } directory && (!Path.IsPathFullyQualified(directory) || !System.IO.Directory.Exists(directory)))
        {
            failures.Add($"{section}:Directory '{directory}' must be the absolute path of an existing folder.");
        }
    }
}
