namespace Hyprstream.Tests;

/// <summary>
/// A real small disk for full-disk tests: a tmpfs of the given size mounted on a temporary folder (root only; the
/// test is ignored with the reason elsewhere), unmounted when disposed.
/// </summary>
public sealed class SmallDisk : IDisposable
{
    private readonly TempDir _mountPoint = new();

    public SmallDisk(int mebibytes, string needsItFor)
    {
        if (!Run("mount", $"-t tmpfs -o size={mebibytes}m tmpfs {_mountPoint.Path}"))
        {
            _mountPoint.Dispose();
            Assert.Ignore($"cannot mount a {mebibytes} MiB tmpfs here (not root?); {needsItFor} needs one");
        }
    }

    public string Path => _mountPoint.Path;

    public void Dispose()
    {
        Run("umount", _mountPoint.Path);
        _mountPoint.Dispose();
    }

    private static bool Run(string file, string args)
    {
        try
        {
            using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }
}
