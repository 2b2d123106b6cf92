using System.Runtime.InteropServices;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Interop.Handles;

/// <summary>Owns one native <c>hs_grid</c> handle; release calls <c>hs_grid_free</c> and never throws.</summary>
internal sealed class GridHandle : SafeHandle
{
    public GridHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Hs.hs_grid_free(handle);
        return true;
    }
}
