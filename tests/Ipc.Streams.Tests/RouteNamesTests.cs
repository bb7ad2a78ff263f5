using System.Text;
using Ipc.Transports.Streams;

namespace Ipc.Streams.Tests;

public sealed class RouteNamesTests
{
    [Fact]
    public void Get_SameRouteAgain_ReturnsTheSameString()
    {
        var names = new RouteNames();

        var first = names.Get("orders/place"u8);
        var other = names.Get("orders/cancel"u8);
        var again = names.Get("orders/place"u8);

        Assert.Equal("orders/place", first);
        Assert.Equal("orders/cancel", other);
        Assert.Same(first, again);
        Assert.Same(other, names.Get("orders/cancel"u8));
    }

    [Fact]
    public void Get_NonAsciiRoute_IsDecodedAsUtf8()
    {
        var names = new RouteNames();
        var bytes = Encoding.UTF8.GetBytes("größe/ändern");

        Assert.Equal("größe/ändern", names.Get(bytes));
        Assert.Same(names.Get(bytes), names.Get(bytes));
    }

    [Fact]
    public void Get_InvalidUtf8_ThrowsAndIsNotKept()
    {
        var names = new RouteNames();
        byte[] invalid = [0x61, 0xC3, 0x28];

        Assert.Throws<WireFormatException>(() => names.Get(invalid));
        Assert.Throws<WireFormatException>(() => names.Get(invalid));
    }

    [Fact]
    public void Get_MoreRoutesThanItHolds_EachIsRightAndTheOldestIsReplaced()
    {
        var names = new RouteNames();
        var routes = Enumerable.Range(0, RouteNames.Capacity + 1).Select(i => $"route-{i}").ToArray();
        var first = names.Get(Encoding.UTF8.GetBytes(routes[0]));
        foreach (var route in routes.Skip(1))
        {
            Assert.Equal(route, names.Get(Encoding.UTF8.GetBytes(route)));
        }

        // Capacity + 1 routes: the first one's slot went to the last, so it is decoded anew.
        var again = names.Get(Encoding.UTF8.GetBytes(routes[0]));
        Assert.Equal(routes[0], again);
        Assert.NotSame(first, again);
        Assert.Equal(routes[^1], names.Get(Encoding.UTF8.GetBytes(routes[^1])));
    }

    [Fact]
    public void Get_RouteLongerThanItKeeps_IsDecodedEachTime()
    {
        var names = new RouteNames();
        var bytes = Encoding.UTF8.GetBytes(new string('r', RouteNames.MaxBytes + 1));

        var first = names.Get(bytes);
        var again = names.Get(bytes);

        Assert.Equal(first, again);
        Assert.NotSame(first, again);
    }
}
