using Hyprstream.Interop.Handles;

namespace Hyprstream.Interop.OpenVdb;

/// <summary>String outputs of the ABI, marshalled through <see cref="Hs.ReadString"/>.</summary>
internal static unsafe partial class Hs
{
    internal static string BuildInfo() => System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)hs_build_info()) ?? "";
    internal static string MetaKeyAt(MetaHandle meta, int index) => ReadString((byte* b, int c, out int r) => hs_meta_key_at(meta, index, b, c, out r));
    internal static string MetaGetString(MetaHandle meta, string key) => ReadString((byte* b, int c, out int r) => hs_meta_get_string(meta, key, b, c, out r));
    internal static string FileGridName(FileHandle file, int index) => ReadString((byte* b, int c, out int r) => hs_file_grid_name(file, index, b, c, out r));
    internal static string FileGridType(FileHandle file, int index) => ReadString((byte* b, int c, out int r) => hs_file_grid_type(file, index, b, c, out r));
}
