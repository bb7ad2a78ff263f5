using Ipc.Tests.DependencyInjection;
using Ipc.Transports;
using Microsoft.Extensions.DependencyInjection;

#region registration-attribute
[assembly: IpcTransportRegistration(typeof(DiscoveredTestTransportRegistration))]
#endregion

namespace Ipc.Tests.DependencyInjection;

/// <summary>Registered only through the assembly attribute, to prove that referencing an adapter is enough.</summary>
#region registration-class
public sealed class DiscoveredTestTransportRegistration : IIpcTransportRegistration
{
    public void Register(IIpcBuilder builder) => builder.AddTransport<DiscoveredTestTransport>();
}
#endregion

/// <summary>A transport that supports request/response only and answers every request with its route.</summary>
public sealed class DiscoveredTestTransport : IIpcTransport
{
    public string Name => "Discovered";

    public IReadOnlyList<string> Schemes { get; } = ["discovered"];

    public TransportCapabilities GetCapabilities(Uri address) => TransportCapabilities.RequestResponse;

    public string? ValidateAddress(Uri address) => null;

    public IIpcTransportClient CreateClient(IpcTransportContext context) => new Client();

    public IIpcTransportListener CreateListener(IpcTransportContext context) => throw new NotSupportedException();

    private sealed class Client : IIpcTransportClient
    {
        public ValueTask<IpcMessage> RequestAsync(IpcMessage request, CancellationToken cancellationToken) =>
            new(IpcMessage.CreateResponse(request, request.Body));

        public ValueTask SendAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask PublishAsync(IpcMessage message, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<IpcMessage> StreamAsync(IpcMessage request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => default;
    }
}
