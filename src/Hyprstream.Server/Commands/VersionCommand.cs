using System.CommandLine;
using System.Reflection;
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
            // The package version (Directory.Build.props) and, after '+', the commit it was built from.
            var version = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? typeof(VersionCommand).Assembly.GetName().Version?.ToString();
            Console.WriteLine($"hyprstream {version}");
            Console.WriteLine(NativeInfo.BuildInfo);
            return 0;
        });
        return cmd;
    }
}
