using System.Runtime.InteropServices;
using Hyprstream.Interop.Handles;

namespace Hyprstream.Interop.OpenVdb;

internal static unsafe partial class Hs
{
    public const int SaveHalf = 0x1;
    public const int SaveNoCompression = 0x2;
    public const int SaveZip = 0x4;

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int hs_file_write(string path, nint* grids, byte** names, int count, nint fileMeta, int flags);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int hs_file_open(string path, out FileHandle file);
    [LibraryImport(Lib)] internal static partial void hs_file_free(nint file);
    [LibraryImport(Lib)] internal static partial int hs_file_size(FileHandle file, out long bytes);
    [LibraryImport(Lib)] internal static partial int hs_file_grid_count(FileHandle file, out int count);
    [LibraryImport(Lib)] internal static partial int hs_file_grid_name(FileHandle file, int index, byte* buffer, int capacity, out int required);
    [LibraryImport(Lib)] internal static partial int hs_file_grid_type(FileHandle file, int index, byte* buffer, int capacity, out int required);
    [LibraryImport(Lib)] internal static partial int hs_file_metadata(FileHandle file, out MetaHandle meta);
    [LibraryImport(Lib)] internal static partial int hs_file_grid_metadata(FileHandle file, int index, out MetaHandle meta);
    [LibraryImport(Lib)] internal static partial int hs_file_read_grid(FileHandle file, int index, out GridHandle grid);

    /// <summary>Writes grids atomically; keeps every handle alive for the duration of the call.</summary>
    internal static void WriteFile(string path, IReadOnlyList<GridHandle> grids, IReadOnlyList<string> names, MetaHandle? fileMeta, int flags)
    {
        if (grids.Count != names.Count) throw new ArgumentException("one name per grid is required");
        var refs = new bool[grids.Count];
        var raw = new nint[grids.Count];
        var encoded = new byte[names.Count][];
        var pins = new GCHandle[names.Count];
        var namePtrs = new nint[names.Count];
        bool metaRef = false;
        try
        {
            for (int i = 0; i < grids.Count; i++)
            {
                grids[i].DangerousAddRef(ref refs[i]);
                raw[i] = grids[i].DangerousGetHandle();
                encoded[i] = System.Text.Encoding.UTF8.GetBytes(names[i] + "\0");
                pins[i] = GCHandle.Alloc(encoded[i], GCHandleType.Pinned);
                namePtrs[i] = pins[i].AddrOfPinnedObject();
            }
            fileMeta?.DangerousAddRef(ref metaRef);
            fixed (nint* g = raw)
            fixed (nint* n = namePtrs)
            {
                Status.Check(hs_file_write(path, g, (byte**)n, grids.Count, fileMeta?.DangerousGetHandle() ?? 0, flags));
            }
        }
        finally
        {
            for (int i = 0; i < grids.Count; i++)
            {
                if (refs[i]) grids[i].DangerousRelease();
                if (pins[i].IsAllocated) pins[i].Free();
            }
            if (metaRef) fileMeta!.DangerousRelease();
        }
    }
}
