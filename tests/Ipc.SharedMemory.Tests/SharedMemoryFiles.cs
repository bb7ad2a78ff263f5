namespace Ipc.SharedMemory.Tests;

/// <summary>Addresses for tests, and the files of a server name in the default folder (its socket and any segment).</summary>
internal static class SharedMemoryFiles
{
    public static string Directory => SharedMemoryTransport.DirectoryOf(new SharedMemoryTransportOptions());

    /// <summary>Returns a <c>shm://</c> address with a name no other test uses.</summary>
    public static string NewAddress() => $"shm://t-{Guid.NewGuid():N}"[..26];

    /// <summary>Returns every file of server <paramref name="name"/> in the default folder.</summary>
    public static string[] Of(string name) => System.IO.Directory.GetFiles(Directory, $"{SharedMemorySegment.FilePrefix}{name}*");
}
