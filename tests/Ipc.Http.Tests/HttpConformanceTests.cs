using Ipc.Testing;
using Ipc.TestUtils;

namespace Ipc.Http.Tests;

public sealed class HttpTransportUnderTest : TransportUnderTest
{
    public override string CreateAddress() => HttpTestAddresses.NewHttpAddress();

    public override void AssertRemoteAddress(string? remoteAddress) => RemoteAddresses.AssertLoopback(remoteAddress);
}

[Trait("Transport", "Http")]
public sealed class HttpRequestResponseTests : RequestResponseConformanceTests<HttpTransportUnderTest>;

[Trait("Transport", "Http")]
public sealed class HttpOneWayTests : OneWayConformanceTests<HttpTransportUnderTest>;

[Trait("Transport", "Http")]
public sealed class HttpOrderedTests : OrderedConformanceTests<HttpTransportUnderTest>;

[Trait("Transport", "Http")]
public sealed class HttpStreamingTests : StreamingConformanceTests<HttpTransportUnderTest>;

[Trait("Transport", "Http")]
public sealed class HttpCancellationTests : CancellationConformanceTests<HttpTransportUnderTest>;

[Trait("Transport", "Http")]
public sealed class HttpConnectionTests : ConnectionConformanceTests<HttpTransportUnderTest>;

/// <summary>Addresses of HTTP servers for tests: a loopback port that was free a moment ago, and a base path.</summary>
public static class HttpTestAddresses
{
    public static string NewHttpAddress(string basePath = "conformance") => $"http://127.0.0.1:{TestAddresses.FreePort()}/{basePath}";

    public static string NewHttpsAddress(string basePath = "conformance") => $"https://localhost:{TestAddresses.FreePort()}/{basePath}";
}
