using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Sockets;

/// <summary>Found by <c>AddIpc(...)</c> through the assembly attribute.</summary>
internal sealed class SocketsTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddSockets();
}
