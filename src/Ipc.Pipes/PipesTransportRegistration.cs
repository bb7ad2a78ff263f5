using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ipc.Pipes;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class PipesTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddPipes();
}

/// <summary>Checks the data annotations of <see cref="PipeTransportOptions"/> at start (source-generated); failures name the property.</summary>
[OptionsValidator]
internal sealed partial class PipeTransportOptionsValidator : IValidateOptions<PipeTransportOptions>;
