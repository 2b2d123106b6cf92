using System.Runtime.InteropServices;

namespace Hyprstream.Interop.OpenVdb;

/// <summary>hs_module: where a module's matrix lives in a grid (slot range + shape).</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct HsModule(long slotBase, int rows, int cols)
{
    public readonly long SlotBase = slotBase;
    public readonly int Rows = rows;
    public readonly int Cols = cols;
}
