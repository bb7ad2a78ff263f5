using System.Net.Sockets;
using System.Text;

namespace Ipc.Peers;

/// <summary>
/// Whether the OS lets a Unix domain socket have a path: 108 bytes at most on Linux, 104 on macOS. Shared by the
/// transports whose servers listen on Unix sockets (Unix sockets, named pipes outside Windows, shared memory's
/// handshake); compiled into each of them from one source file.
/// </summary>
internal static class UnixSocketPaths
{
    /// <summary>Returns why no Unix socket can have <paramref name="path"/> (it is too long), or <see langword="null"/> when one can.</summary>
    public static string? WhyNot(string path)
    {
        try
        {
            _ = new UnixDomainSocketEndPoint(path);
            return null;
        }
        catch (ArgumentOutOfRangeException)
        {
            return $"'{path}' is {Encoding.UTF8.GetByteCount(path)} bytes, longer than this system lets a Unix socket's path be (108 bytes on Linux, 104 on macOS)";
        }
    }
}

/// <summary>
/// The socket file a server bound, told apart from a file put at the same path later: after someone removed this server's
/// file, another server may have bound the path, and that one's file is not this server's to remove. A file is known by
/// the times the system gave it when it was made (a socket's stay as they are while it serves).
/// </summary>
internal readonly record struct BoundSocketFile(string Path, DateTime Created, DateTime Written)
{
    /// <summary>Identifies the file a server has just bound at <paramref name="path"/>.</summary>
    public static BoundSocketFile Of(string path)
    {
        var file = new FileInfo(path);
        return new BoundSocketFile(path, file.CreationTimeUtc, file.LastWriteTimeUtc);
    }

    /// <summary>Removes the file at <see cref="Path"/> if it is still the one this server bound.</summary>
    public void Remove()
    {
        var file = new FileInfo(Path);
        if (file.Exists && file.CreationTimeUtc == Created && file.LastWriteTimeUtc == Written)
        {
            file.Delete();
        }
    }
}

/// <summary>
/// The address a server's listening Unix socket binds. A socket bound to a <see cref="UnixDomainSocketEndPoint"/> deletes
/// whatever file is at its path when it is disposed, which by then may be another server's; bound to this one, it leaves
/// the file to <see cref="BoundSocketFile.Remove"/>, which checks first.
/// </summary>
internal sealed class ListeningSocketEndPoint(UnixDomainSocketEndPoint endPoint) : System.Net.EndPoint
{
    public override AddressFamily AddressFamily => AddressFamily.Unix;

    public override System.Net.SocketAddress Serialize() => endPoint.Serialize();

    public override System.Net.EndPoint Create(System.Net.SocketAddress socketAddress) => endPoint.Create(socketAddress);

    public override string ToString() => endPoint.ToString();
}
