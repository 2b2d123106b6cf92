using System.Runtime.InteropServices;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Interop.Handles;

/// <summary>Owns one native <c>hs_tile_cursor</c> handle; release calls <c>hs_tile_cursor_free</c> and never throws.</summary>
internal sealed class TileCursorHandle : SafeHandle
{
    public TileCursorHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Hs.hs_tile_cursor_free(handle);
        return true;
    }
}
