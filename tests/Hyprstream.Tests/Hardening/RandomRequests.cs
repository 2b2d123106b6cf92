using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;
using Hyprstream.Service;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// Random Flight requests, accepted and refused, at and past every limit: shapes, scales, coordinates, values, names,
/// action bodies. Each request is sent whole and its status returned.
/// </summary>
internal sealed class RandomRequests(int seed)
{
    private readonly Random _rng = new(seed);
    private static readonly string[] Names = ["a", "b", "c", "huge"];
    private static readonly string[] Modules = ["q", "model.layers.1.mlp.up_proj", "k"];
    private static readonly (int Rows, int Cols)[] Shapes =
    [
        (8, 64), (64, 128), (1, 1), (-5, 64), (0, 1), (int.MaxValue, int.MaxValue), (1 << 20, 1 << 25),
        (AdapterLimits.MaxModuleDimension, AdapterLimits.MaxModuleDimension + 1), (1 << 24, 1 << 24),
    ];
    private static readonly double[] Scales = [1, 0.5, 0, -2, 1e39, 3e38];
    private static readonly float[] Values = [1f, -0.5f, 0.001f, 3e38f, float.NaN, float.PositiveInfinity, 0f];

    private T Pick<T>(IReadOnlyList<T> xs) => xs[_rng.Next(xs.Count)];

    private (string, int, int, float)[] Weights(string? module = null) =>
        Enumerable.Range(0, _rng.Next(1, 6)).Select(_ => (module ?? Pick(Modules), _rng.Next(-2, 70), _rng.Next(-2, 130), Pick(Values))).ToArray();

    /// <summary>Sends one random request; returns what it was and its status (OK when it succeeded).</summary>
    public async Task<(string What, StatusCode Status)> SendAsync(FlightClient c)
    {
        int kind = _rng.Next(11);
        string name = Pick(Names), other = Pick(Names);
        string what = "";
        try
        {
            switch (kind)
            {
                case 0 or 1:
                {
                    var modules = Enumerable.Range(0, _rng.Next(1, 3)).Select(_ => Pick(Shapes) is var sh
                        ? new { name = Pick(Modules), rows = sh.Rows, cols = sh.Cols, scale = Pick(Scales) } : null).ToArray();
                    var cmd = new { adapter = name, create = true, modules };
                    what = "create " + JsonSerializer.Serialize(cmd);
                    var m = modules[0]!;
                    var w = _rng.Next(2) == 0 && m.rows > 0 && m.cols > 0
                        ? [(m.name, _rng.Next(Math.Min(m.rows, 1 << 20)), _rng.Next(Math.Min(m.cols, 1 << 20)), 1f)]
                        : Weights(m.name);
                    await c.DoPutAsync(Cmd(cmd), RowSchema, [(Batch(w), null)]);
                    break;
                }
                case 2:
                {
                    var w = Weights();
                    var mode = _rng.Next(2) == 0 ? "set" : "add";
                    what = $"put {mode} {name} {string.Join(" ", w)}";
                    await c.DoPutAsync(Cmd(new { adapter = name, mode }), RowSchema, [(Batch(w), null)]);
                    break;
                }
                case 3:
                    what = $"merge {name} <- {other}";
                    await Act(c, "merge", new { target = name, source = other, scale = Pick(Scales) });
                    break;
                case 4:
                {
                    var weights = new[] { Pick(Scales), Pick(Scales) };
                    what = $"fuse {name} = {other}, a";
                    await Act(c, "fuse", new { name, sources = new[] { other, "a" }, weights });
                    break;
                }
                case 5:
                    what = $"prune {name}";
                    await Act(c, "prune", new { adapter = name, tolerance = Pick(new[] { 0.0, 0.01, -1.0, 1e39 }) });
                    break;
                case 6:
                    what = $"keep-top {name}";
                    await Act(c, "keep-top", new { adapter = name, fraction = Pick(new[] { 0.5, 0.0, 1.0, 1.5, -0.1 }), structure = Pick(new[] { "tile", "unstructured", "diagonal" }) });
                    break;
                case 7:
                    what = $"delete {name}";
                    await Act(c, "delete", new { adapter = name });
                    break;
                case 8:
                    what = "checkpoint";
                    await Act(c, "checkpoint", new { });
                    break;
                case 9:
                    what = $"save+load {name}";
                    await Act(c, "save", new { adapter = name });
                    await Act(c, "load", new { adapter = name });
                    break;
                default:
                    what = "bad names and bodies";
                    await Act(c, Pick(new[] { "prune", "delete", "stats", "merge" }),
                        new { adapter = Pick(new[] { "../x", "", ".hidden", new string('€', 70), "a\u0001b" }), target = 7, tolerance = "x" });
                    break;
            }
            return (what, StatusCode.OK);
        }
        catch (RpcException e) { return (what, e.StatusCode); }
    }

    private static async Task Act(FlightClient c, string type, object body) => await c.DoActionAsync(type, JsonSerializer.SerializeToUtf8Bytes(body));

    /// <summary>Statuses a request may end with: success or a refusal that names the client's mistake.</summary>
    public static readonly StatusCode[] Allowed =
        [StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.AlreadyExists, StatusCode.FailedPrecondition];
}
