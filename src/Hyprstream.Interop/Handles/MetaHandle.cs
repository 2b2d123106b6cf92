using System.Runtime.InteropServices;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Interop.Handles;

/// <summary>Owns one native <c>hs_meta</c> handle; release calls <c>hs_meta_free</c> and never throws.</summary>
internal sealed class MetaHandle : SafeHandle
{
    public MetaHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Hs.hs_meta_free(handle);
        return true;
    }
}
