using System.Runtime.InteropServices;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Interop.Handles;

/// <summary>Owns one native <c>hs_nano</c> handle; release calls <c>hs_nano_free</c> and never throws.</summary>
internal sealed class NanoHandle : SafeHandle
{
    public NanoHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Hs.hs_nano_free(handle);
        return true;
    }
}
