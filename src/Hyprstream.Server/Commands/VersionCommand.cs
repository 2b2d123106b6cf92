using System.CommandLine;
using Hyprstream.Runtime;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream version`: the managed version and the native library's build info.</summary>
internal static class VersionCommand
{
    public static Command Create()
    {
        var cmd = new Command("version", "Print the versions of hyprstream, its native library, OpenVDB and NanoVDB");
        cmd.SetAction(_ =>
        {
            Console.WriteLine($"hyprstream {typeof(VersionCommand).Assembly.GetName().Version}");
            Console.WriteLine(NativeInfo.BuildInfo);
            return 0;
        });
        return cmd;
    }
}
