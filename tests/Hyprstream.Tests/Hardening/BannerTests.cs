using System.Text.Json;
using Hyprstream.Flight.Rpc;
using Hyprstream.Tests.Service;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// `hyprstream serve` says what it does: an empty token is refused at start (not silently dropped), and the banner
/// names the auth mode in force and the address the socket is actually bound to.
/// </summary>
[TestFixture]
public sealed class BannerTests
{
    private static readonly Dictionary<string, string?> NoEnvTokens = new() { ["HYPRSTREAM_TOKENS"] = null };

    private static async Task<string> RefusedAtStart(IReadOnlyDictionary<string, string?> env, params string[] extra)
    {
        using var dir = new TempDir();
        var (code, stdout, stderr) = await ServeProcess.RunAsync(["serve", "--data", dir.Path, "--listen", "127.0.0.1:0", .. extra], env);
        Assert.That(code, Is.Not.EqualTo(0), $"serve started: {stdout}");
        Assert.That(stdout, Does.Not.Contain("serving"));
        return stderr;
    }

    [Test]
    public async Task EmptyOrBlankTokens_AreRefusedAtStart()
    {
        Assert.That(await RefusedAtStart(NoEnvTokens, "--token", ""), Does.Contain("--token is empty or blank"));
        Assert.That(await RefusedAtStart(NoEnvTokens, "--token", "   "), Does.Contain("--token is empty or blank"));
        Assert.That(await RefusedAtStart(NoEnvTokens, "--token", "good", "--token", ""), Does.Contain("--token is empty"));
        Assert.That(await RefusedAtStart(NoEnvTokens, "--token", " padded "), Does.Contain("leading or trailing spaces"));
        Assert.That(await RefusedAtStart(new Dictionary<string, string?> { ["HYPRSTREAM_TOKENS"] = "" }), Does.Contain("HYPRSTREAM_TOKENS is set but holds an empty token"));
        Assert.That(await RefusedAtStart(new Dictionary<string, string?> { ["HYPRSTREAM_TOKENS"] = "a,,b" }), Does.Contain("HYPRSTREAM_TOKENS"));
        Assert.That(await RefusedAtStart(new Dictionary<string, string?> { ["HYPRSTREAM_TOKENS"] = " , " }), Does.Contain("HYPRSTREAM_TOKENS"));
    }

    [Test]
    public async Task Banner_NamesTheAuthMode()
    {
        using var dir = new TempDir();
        var (server, line) = await ServeProcess.StartAsync(dir.Path, "127.0.0.1:0", NoEnvTokens);
        using (server)
        {
            try { Assert.That(line, Does.Contain("auth: none").And.Contain("loopback only").And.Not.Contain("bearer")); }
            finally { server.Kill(entireProcessTree: true); }
        }
        (server, line) = await ServeProcess.StartAsync(dir.Path, "127.0.0.1:0", new Dictionary<string, string?> { ["HYPRSTREAM_TOKENS"] = "one, two" }, "--token", "three");
        using (server)
        {
            try { Assert.That(line, Does.Contain("auth: bearer token required, 3 tokens accepted")); }
            finally { server.Kill(entireProcessTree: true); }
        }
    }

    [Test]
    public async Task Banner_NamesTheAddressActuallyBound()
    {
        using var dir = new TempDir();
        var (server, line) = await ServeProcess.StartAsync(dir.Path, "0.0.0.0:0", NoEnvTokens, "--token", "tok");
        using var _ = server;
        try
        {
            Assert.That(line, Does.Contain("grpc+tcp://0.0.0.0:").And.Contain("all interfaces").And.Not.Contain("127.0.0.1"));
            var port = ServeProcess.Authority(line).Split(':')[1];
            using var client = new FlightClient(new Uri($"http://127.0.0.1:{port}"));
            client.Token = "tok";
            var r = await client.DoActionAsync("stats");
            Assert.That(JsonDocument.Parse(r[0]).RootElement.GetProperty("adapters").GetInt32(), Is.EqualTo(0));
        }
        finally { server.Kill(entireProcessTree: true); }
    }
}
