using System.Text.Json;

namespace Hyprstream.Tests;

/// <summary>`hyprstream index …` end to end through the real entry point.</summary>
[NonParallelizable]
public class IndexCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var r = Cli.Run(args);
        return (r.ExitCode, r.Out, r.Err);
    }

    [Test]
    public void AddSearchRemoveStats_EndToEnd()
    {
        using var dir = new TempDir();
        Assert.That(Run("index", "add", "--index", dir.Path, "math", "--vector", "1,0,0", "--metric", "l2", "--tag", "tenant=acme").Code, Is.Zero);
        Assert.That(Run("index", "add", "--index", dir.Path, "code", "--vector", "0,1,0", "--tag", "tenant=acme").Code, Is.Zero);
        Assert.That(Run("index", "add", "--index", dir.Path, "poetry", "--vector", "0,0,1", "--tag", "tenant=other").Code, Is.Zero);

        var (code, output, _) = Run("index", "search", "--index", dir.Path, "--vector", "0.9,0.1,0", "-k", "2", "--json");
        Assert.That(code, Is.Zero);
        var hits = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.That(hits.Select(h => h.GetProperty("adapter").GetString()), Is.EqualTo(new[] { "math", "code" }));
        Assert.That(hits[0].GetProperty("distance").GetDouble(), Is.EqualTo(0.02).Within(1e-6));

        (code, output, _) = Run("index", "search", "--index", dir.Path, "--vector", "0.9,0.1,0", "-k", "3", "--tenant", "other", "--json");
        Assert.That(JsonDocument.Parse(output).RootElement.EnumerateArray().Select(h => h.GetProperty("adapter").GetString()), Is.EqualTo(new[] { "poetry" }));

        Assert.That(Run("index", "remove", "--index", dir.Path, "math").Code, Is.Zero);
        (code, output, _) = Run("index", "stats", "--index", dir.Path, "--json");
        Assert.That(code, Is.Zero);
        var stats = JsonDocument.Parse(output).RootElement.GetProperty("stats");
        Assert.That(stats.GetProperty("Count").GetInt32(), Is.EqualTo(2));
        Assert.That(stats.GetProperty("Dimensions").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public void Errors_AreOneLine_AndExitNonZero()
    {
        using var dir = new TempDir();
        Run("index", "add", "--index", dir.Path, "a", "--vector", "1,2", "--metric", "l2");
        var (code, _, err) = Run("index", "add", "--index", dir.Path, "b", "--vector", "1,2,3");
        Assert.That(code, Is.Not.Zero);
        Assert.That(err.Trim(), Does.Contain("dimensions").And.Not.Contain("\n"));
        (code, _, err) = Run("index", "add", "--index", dir.Path, "c", "--vector", "1,x");
        Assert.That(code, Is.Not.Zero);
        Assert.That(err, Does.Contain("not a number"));
        (code, _, err) = Run("index", "remove", "--index", dir.Path, "nobody");
        Assert.That(code, Is.Not.Zero);
        Assert.That(err, Does.Contain("nobody"));
        (code, _, err) = Run("index", "search", "--index", Path.Combine(dir.Path, "missing"), "--vector", "1,2");
        Assert.That(code, Is.Not.Zero);
        Assert.That(err, Does.Contain("holds no adapter index"));
    }
}
