using System.Text.Json;
using Grpc.Core;
using Hyprstream.Flight.Rpc;
using static Hyprstream.Tests.Service.FlightActionAuthTests;
using static Hyprstream.Tests.Service.FlightPutTests;
using static Hyprstream.Tests.Service.FlightServiceTests;

namespace Hyprstream.Tests.Service;

/// <summary>`hyprstream serve --tokens-file` as users run it: the banner counts roles and tenants, a bad file stops the start.</summary>
[TestFixture]
public sealed class ServeTokensFileTests
{
    private const string Q = "model.layers.0.self_attn.q_proj";

    [Test]
    public async Task Serve_WithTokensFile_CountsRolesInTheBanner_AndServesEachTenantItsOwn()
    {
        using var dir = new TempDir();
        var file = dir.File("tokens.json");
        File.WriteAllText(file, """
            {"tokens": [
              {"token": "acme-w", "tenant": "acme", "role": "write"},
              {"token": "acme-r", "tenant": "acme", "role": "read"},
              {"token": "beta-w", "tenant": "beta", "role": "write"},
              {"token": "root", "role": "admin"}
            ]}
            """);
        if (OperatingSystem.IsWindows()) Assert.Ignore("file modes are a Unix matter");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var data = Directory.CreateDirectory(System.IO.Path.Combine(dir.Path, "data")).FullName;
        var (server, line) = await ServeProcess.StartAsync(data, "127.0.0.1:0",
            new Dictionary<string, string?> { ["HYPRSTREAM_TOKENS"] = "env-admin" }, "--tokens-file", file);
        using var _ = server;
        try
        {
            Assert.That(line, Does.Contain("auth: bearer token required, 5 tokens accepted (2 admin, 2 write, 1 read; 2 tenants: acme, beta)"));
            var address = new Uri("http://" + ServeProcess.Authority(line));
            using var acme = new FlightClient(address) { Token = "acme-w" };
            using var reader = new FlightClient(address) { Token = "acme-r" };
            using var beta = new FlightClient(address) { Token = "beta-w" };
            using var admin = new FlightClient(address) { Token = "env-admin" };
            await acme.DoPutAsync(Cmd(CreateCmd("m")), RowSchema, [(Batch((Q, 1, 1, 1f)), null)]);
            Assert.That(await beta.ListFlightsAsync(), Is.Empty);
            Assert.That((await reader.ListFlightsAsync()).Select(f => string.Join("/", f.FlightDescriptor.Path)), Does.Contain("adapters/m"));
            var e = Assert.ThrowsAsync<RpcException>(() => reader.DoPutAsync(Path("adapters", "m"), RowSchema, [(Batch((Q, 2, 2, 2f)), null)]));
            Assert.That(e!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That((await admin.ListFlightsAsync()).Select(f => string.Join("/", f.FlightDescriptor.Path)), Does.Contain("adapters/acme@m"));
            Assert.That((await Act(admin, "stats")).GetProperty("per_adapter")[0].GetProperty("adapter").GetString(), Is.EqualTo("acme@m"));
        }
        finally { server.Kill(entireProcessTree: true); }
        Assert.That(await server.StandardError.ReadToEndAsync(), Does.Contain("readable by every user"));
    }

    private static async Task<string> RefusedAtStart(string dataDir, params string[] extra)
    {
        var (code, stdout, stderr) = await ServeProcess.RunAsync(["serve", "--data", dataDir, "--listen", "127.0.0.1:0", .. extra],
            new Dictionary<string, string?> { ["HYPRSTREAM_TOKENS"] = null });
        Assert.That(code, Is.Not.EqualTo(0), $"serve started: {stdout}");
        Assert.That(stdout, Does.Not.Contain("serving"));
        return stderr;
    }

    [Test]
    public async Task Serve_WithABadTokensFile_IsRefusedAtStart_NamingTheEntry()
    {
        using var dir = new TempDir();
        var file = dir.File("tokens.json");
        Assert.That(await RefusedAtStart(dir.Path, "--tokens-file", file), Does.Contain($"tokens file {file}: cannot be read"));
        File.WriteAllText(file, """{"tokens": [{"token": "a", "tenant": "acme", "role": "write"}, {"token": "b", "tenant": "beta", "role": "owner"}]}""");
        Assert.That(await RefusedAtStart(dir.Path, "--tokens-file", file), Does.Contain($"tokens file {file}: tokens[1] (tenant \"beta\") has an unknown role \"owner\""));
        File.WriteAllText(file, """{"tokens": [{"token": "a", "tenant": "acme", "role": "write"}]}""");
        var stderr = await RefusedAtStart(dir.Path, "--tokens-file", file, "--token", "a");
        Assert.That(stderr, Does.Contain("also given by --token"));
    }
}
