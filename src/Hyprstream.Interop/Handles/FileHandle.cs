using System.Runtime.InteropServices;
using Hyprstream.Interop.OpenVdb;

namespace Hyprstream.Interop.Handles;

/// <summary>Owns one native <c>hs_file</c> handle; release calls <c>hs_file_free</c> and never throws.</summary>
internal sealed class FileHandle : SafeHandle
{
    public FileHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        Hs.hs_file_free(handle);
        return true;
    }
}
