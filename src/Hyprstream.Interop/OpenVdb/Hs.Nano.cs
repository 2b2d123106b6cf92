using System.Runtime.InteropServices;
using Hyprstream.Interop.Handles;

namespace Hyprstream.Interop.OpenVdb;

/// <summary>NanoVDB snapshots (hs_nano_*): conversion, the raw buffer, validation of foreign bytes, snapshot files (read or mapped), promotion to a grid.</summary>
internal static unsafe partial class Hs
{
    public const int NanoFloat32 = 0;
    public const int NanoFp16 = 1;

    [LibraryImport(Lib)] internal static partial int hs_nano_from_grid(GridHandle grid, int valueType, out NanoHandle nano);
    [LibraryImport(Lib)] internal static partial void hs_nano_free(nint nano);
    [LibraryImport(Lib)] internal static partial int hs_nano_data(NanoHandle nano, out void* data, out long bytes);
    [LibraryImport(Lib)] internal static partial int hs_nano_get_info(NanoHandle nano, out HsNanoInfo info);
    [LibraryImport(Lib)] internal static partial int hs_nano_from_buffer(void* data, long bytes, out NanoHandle nano);
    [LibraryImport(Lib)] internal static partial int hs_nano_table(NanoHandle nano, byte* buffer, int capacity, out int required);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_nano_write(NanoHandle nano, string path, string? table);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_nano_read(string path, out NanoHandle nano);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_nano_map(string path, int verifyChecksum, out NanoHandle nano);
    [LibraryImport(Lib)] internal static partial int hs_grid_from_nano(NanoHandle nano, out GridHandle grid);
    [LibraryImport(Lib)] internal static partial int hs_nano_leaf_origins(NanoHandle nano, int* xyz, long count);

    internal static string NanoTable(NanoHandle nano) => ReadString((byte* b, int c, out int r) => hs_nano_table(nano, b, c, out r));
}

/// <summary>hs_nano_info: where leaves and values lie in a snapshot buffer.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct HsNanoInfo
{
    public int ValueType;
    public int LeafBytes;
    public long Bytes;
    public long LeafCount;
    public long LeafOffset;
    public long ActiveVoxels;
    public int ValueOffset;
    public int Reserved;
}
