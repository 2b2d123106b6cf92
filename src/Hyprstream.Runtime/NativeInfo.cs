using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Runtime;

/// <summary>Facts about the loaded native library, for diagnostics and leak tests.</summary>
public static class NativeInfo
{
    /// <summary>Shim ABI, OpenVDB, NanoVDB and mapping versions of the loaded library.</summary>
    public static string BuildInfo => Hs.BuildInfo();

    /// <summary>(major, minor) ABI version of the loaded library.</summary>
    public static (int Major, int Minor) AbiVersion { get { var v = Hs.hs_abi_version(); return ((int)(v >> 16), (int)(v & 0xFFFF)); } }

    /// <summary>Native handles (grids, metadata maps, files, cursors) created and not yet freed.</summary>
    public static long LiveHandles => Hs.hs_live_handles();
}
