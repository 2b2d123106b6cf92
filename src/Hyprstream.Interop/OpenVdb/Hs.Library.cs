using System.Runtime.InteropServices;

namespace Hyprstream.Interop.OpenVdb;

/// <summary>P/Invoke declarations for hyprstream_shim.h; names match the C names exactly.</summary>
internal static unsafe partial class Hs
{
    private const string Lib = NativeLibraryLoader.LibraryName;

    [LibraryImport(Lib)] internal static partial uint hs_abi_version();
    [LibraryImport(Lib)] internal static partial byte* hs_build_info();
    [LibraryImport(Lib)] internal static partial byte* hs_last_error();
    [LibraryImport(Lib)] internal static partial long hs_live_handles();
    [LibraryImport(Lib)] internal static partial int hs_initialize();
    [LibraryImport(Lib)] internal static partial long hs_module_tile_count(int rows, int cols);

    /// <summary>Reads a string through the "buffer + capacity + required" protocol.</summary>
    internal delegate int StringGetter(byte* buffer, int capacity, out int required);

    internal static string ReadString(StringGetter get)
    {
        Status.Check(get(null, 0, out var required));
        var buffer = required <= 512 ? stackalloc byte[required] : new byte[required];
        fixed (byte* p = buffer)
        {
            Status.Check(get(p, buffer.Length, out _));
            return System.Text.Encoding.UTF8.GetString(p, required - 1);
        }
    }
}
