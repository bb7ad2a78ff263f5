using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Pipes.Tests;

[Trait("Transport", "Pipes")]
public sealed class PipeConformanceTests : TransportConformanceTests
{
    protected override string CreateAddress() => TestAddresses.NewPipeAddress();

    protected override ValueTask AssertReleasedAsync(string address)
    {
        if (!OperatingSystem.IsWindows())
        {
            // .NET maps a pipe name to a Unix socket file in the temporary folder.
            var file = Path.Combine(Path.GetTempPath(), "CoreFxPipe_" + new Uri(address).Host);
            Assert.False(File.Exists(file), $"the socket file of {address} is still there");
        }

        return default;
    }
}
