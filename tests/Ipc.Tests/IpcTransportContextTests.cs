using Ipc.Transports;

namespace Ipc.Tests;

public sealed class IpcTransportContextTests
{
    [Theory]
    [InlineData("amqp://app:s3cret@broker:5672/orders?name=eu", "amqp://app:***@broker:5672/orders?name=***")]
    [InlineData("http://127.0.0.1:5000/calc?region=eu&api_key=k1&code=c2&x=y", "http://127.0.0.1:5000/calc?region=***&api_key=***&code=***&x=***")]
    [InlineData("http://127.0.0.1:5000/calc?flag&empty=&a=1=2#frag", "http://127.0.0.1:5000/calc?flag&empty=***&a=***#frag")]
    [InlineData("http://app:s3cret@127.0.0.1:5000/calc?c=1", "http://app:***@127.0.0.1:5000/calc?c=***")]
    [InlineData("amqp://app:s3cret:more@broker", "amqp://app:***@broker")]
    [InlineData("amqps://app:p%40ss%2Fword@[::1]:5671/", "amqps://app:***@[::1]:5671/")]
    [InlineData("amqp://:s3cret@broker", "amqp://:***@broker")]
    [InlineData("amqp://app@broker", "amqp://app@broker")]
    [InlineData("amqp://broker:5672/", "amqp://broker:5672/")]
    [InlineData("http://127.0.0.1:5000/files/a@b:c", "http://127.0.0.1:5000/files/a@b:c")]
    [InlineData("unix:///run/calc.sock", "unix:///run/calc.sock")]
    public void DisplayAddress_IsTheAddressAsConfiguredWithoutItsPassword(string address, string shown)
    {
        var context = new IpcTransportContext("orders", new Uri(address), EmptyServices.Instance);

        Assert.Equal(shown, context.DisplayAddress);
    }

    [Theory]
    [InlineData("amqp://app:pa ss%@broker/vh?name=q", "amqp://app:***@broker/vh?name=***")]
    [InlineData("http://host/calc?code=s3cret&sig", "http://host/calc?code=***&sig")]
    [InlineData("not an address?password=s3cret&other=s3cret", "not an address?password=***&other=***")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void Redact_TextThatNeedNotBeAValidAddress_HidesEveryQueryValueAndThePassword(string? address, string shown)
    {
        Assert.Equal(shown, AddressText.Redact(address));
    }

    // Without '//' nothing is parsed as user info, yet a password typed there is still a password. When the scheme is
    // followed by a '/', it is a scheme and the password starts after the next ':'; when not, the "scheme" may be the
    // user name of an address written without one, so everything up to the '@' may be the password.
    [Theory]
    [InlineData("amqp:app:s3cret@broker:5672/orders?name=eu", "amqp:***@broker:5672/orders?name=***")]
    [InlineData("app:s3cret@broker", "app:***@broker")]
    [InlineData("app:s3c:ret@broker", "app:***@broker")]
    [InlineData("amqp:/app:s3cret@broker/vh", "amqp:/app:***@broker/vh")]
    [InlineData("amqp:/app:s3c/r@et@broker", "amqp:/app:***@broker")]
    [InlineData("amqp:///app:s3cret@broker", "amqp:///app:***@broker")]
    [InlineData("app:s3cret@broker/?next=http://elsewhere", "app:***@broker/?next=***")]
    [InlineData("unix:/run/calc.sock", "unix:/run/calc.sock")]
    [InlineData("unix:/run/calc@2.sock", "unix:/run/calc@2.sock")]
    [InlineData("unix:///run/calc@2.sock", "unix:///run/calc@2.sock")]
    [InlineData("unix:///tmp/x.sock", "unix:///tmp/x.sock")]
    [InlineData("pipe://name", "pipe://name")]
    [InlineData("shm://a", "shm://a")]
    [InlineData("http://h:80/p", "http://h:80/p")]
    [InlineData("amqp://h/vhost?name=x", "amqp://h/vhost?name=***")]
    [InlineData("tcp://[::1]:5000", "tcp://[::1]:5000")]
    [InlineData("inmemory:orders", "inmemory:orders")]
    public void Redact_AddressWithoutDoubleSlash_HidesWhatMayBeAPassword(string address, string shown)
    {
        Assert.Equal(shown, AddressText.Redact(address));
        Assert.Equal(shown, new IpcTransportContext("orders", new Uri(address), EmptyServices.Instance).DisplayAddress);
    }

    [Theory]
    [InlineData("app:s3cret@broker other", "app:***@broker other")]
    [InlineData("user:pass@host:5672", "user:***@host:5672")]
    [InlineData("//app:s3cret@broker", "//app:***@broker")]
    public void Redact_TextWithoutDoubleSlash_HidesWhatMayBeAPassword(string address, string shown)
    {
        Assert.Equal(shown, AddressText.Redact(address));
    }

    private sealed class EmptyServices : IServiceProvider
    {
        public static readonly EmptyServices Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
