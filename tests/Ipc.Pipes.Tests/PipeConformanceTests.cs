using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Pipes.Tests;

public sealed class PipeTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => TestAddresses.NewPipeAddress();

    public override void AssertRemoteAddress(string? remoteAddress) => RemoteAddresses.AssertThisProcess(remoteAddress);

    public override ValueTask AssertReleasedAsync(string address)
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

[Trait("Transport", "Pipes")]
public sealed class PipeRequestResponseTests : RequestResponseConformanceTests<PipeTransportUnderTest>;

[Trait("Transport", "Pipes")]
public sealed class PipeOneWayTests : OneWayConformanceTests<PipeTransportUnderTest>;

[Trait("Transport", "Pipes")]
public sealed class PipeOrderedTests : OrderedConformanceTests<PipeTransportUnderTest>;

[Trait("Transport", "Pipes")]
public sealed class PipeStreamingTests : StreamingConformanceTests<PipeTransportUnderTest>;

[Trait("Transport", "Pipes")]
public sealed class PipeCancellationTests : CancellationConformanceTests<PipeTransportUnderTest>;

[Trait("Transport", "Pipes")]
public sealed class PipeConnectionTests : ConnectionConformanceTests<PipeTransportUnderTest>;
