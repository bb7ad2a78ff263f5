using Microsoft.Extensions.DependencyInjection;

namespace Ipc.Serialization;

internal sealed class SerializerRegistry(IServiceProvider services)
{
    public IIpcSerializer? Find(string name) => services.GetKeyedService<IIpcSerializer>(name);
}
