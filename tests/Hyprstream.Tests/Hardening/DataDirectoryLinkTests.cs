using Grpc.Core;
using Hyprstream.Flight;
using Hyprstream.Runtime;
using Hyprstream.Tests.Service;
using static Hyprstream.Tests.Hardening.Hostile;

namespace Hyprstream.Tests.Hardening;

/// <summary>
/// The rule: symbolic links in the data directory are not followed. A linked `.vdb` is not imported (at start,
/// rescan reports it in `failed`; `load` refuses it), `save` refuses to replace one, and `delete` removes the link,
/// never its target.
/// </summary>
[TestFixture]
public sealed class DataDirectoryLinkTests
{
    [Test]
    public async Task LinkedVdb_IsNotImported_AtStartRescanOrLoad()
    {
        using var outside = new TempDir();
        using (var a = Fixtures.Small("secret", count: 50)) a.Save(outside.File("secret.vdb"));
        await using var s = await FlightServer.StartAsync(seed: dir => File.CreateSymbolicLink(dir.File("linked.vdb"), outside.File("secret.vdb")));
        Assert.That(s.Host.Store.Store.Contains("linked"), Is.False, "not imported at start");

        var rescan = await Ok(s.Client, "rescan");
        Assert.That(rescan.GetProperty("loaded").GetArrayLength(), Is.EqualTo(0));
        Assert.That(rescan.GetProperty("failed").GetProperty("linked").GetString(), Does.Contain("symbolic link"));

        var e = await Fails(s.Client, "load", """{"adapter":"linked"}""");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(e.Status.Detail, Does.Contain("symbolic link"));
        Assert.That(s.Host.Store.Store.Contains("linked"), Is.False);

        // A dangling link is refused the same way (not "not found").
        File.CreateSymbolicLink(s.Dir.File("dangling.vdb"), outside.File("nothing-here.vdb"));
        e = await Fails(s.Client, "load", """{"adapter":"dangling"}""");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
    }

    [Test]
    public async Task Save_RefusesToReplaceALink_AndDelete_RemovesOnlyTheLink()
    {
        using var outside = new TempDir();
        File.WriteAllText(outside.File("victim.txt"), "keep me");
        await using var s = await ServerWithAdapters("a");
        File.CreateSymbolicLink(s.Dir.File("a.vdb"), outside.File("victim.txt"));

        var e = await Fails(s.Client, "save", """{"adapter":"a"}""");
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
        Assert.That(e.Status.Detail, Does.Contain("symbolic link"));
        Assert.That(File.ReadAllText(outside.File("victim.txt")), Is.EqualTo("keep me"));
        Assert.That(new FileInfo(s.Dir.File("a.vdb")).LinkTarget, Is.Not.Null, "the link is left as it was");

        var deleted = await Ok(s.Client, "delete", """{"adapter":"a"}""");
        Assert.That(deleted.GetProperty("deleted").GetBoolean(), Is.True);
        Assert.That(File.Exists(s.Dir.File("a.vdb")) || new FileInfo(s.Dir.File("a.vdb")).LinkTarget != null, Is.False, "the link is gone");
        Assert.That(File.ReadAllText(outside.File("victim.txt")), Is.EqualTo("keep me"), "its target is not");

        // With the link gone, save works again (a regular file).
        await Put(s.Client, "a");
        await Ok(s.Client, "save", """{"adapter":"a"}""");
        Assert.That(new FileInfo(s.Dir.File("a.vdb")).LinkTarget, Is.Null);
        using var file = SparseAdapter.Load(s.Dir.File("a.vdb"));
        Assert.That(file.ActiveCount, Is.EqualTo(2));
    }
}
