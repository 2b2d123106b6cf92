using System.CommandLine;
using Hyprstream.Runtime;
using Hyprstream.Server.SelfTest;
using Hyprstream.Runtime.Apply;

namespace Hyprstream.Server.Commands;

/// <summary>`hyprstream selftest [--device cpu|cuda|auto]`: the apply kernels checked on this machine (exit 1 on a failure).</summary>
internal static class SelfTestCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("selftest", "Check the apply kernels (sparse GEMM, mixed batch, scatter, lookup) on this machine against the reference") { device };
        cmd.SetAction(r => ApplySelfTest.Run(ApplyBackends.Parse(r.GetValue(device)!), Console.WriteLine));
        return cmd;
    }
}
