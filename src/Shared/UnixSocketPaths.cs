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
