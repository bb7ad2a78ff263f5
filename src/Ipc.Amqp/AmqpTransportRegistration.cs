using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Amqp;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class AmqpTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddAmqp();
}
