using System.Reflection;
using System.Xml.Linq;

namespace Hyprstream.Tests.Architecture;

/// <summary>
/// The layers are real: Server → Service → (Replication →) Runtime → Interop (→ native), Bench beside them on Runtime and Interop,
/// Flight (the wire protocol) beneath Service and Bench. A project that references one above it, anything that
/// references the executable or Bench, or internals shown to them, fails here — in the project files and in the
/// compiled assemblies.
/// </summary>
[TestFixture]
public sealed class LayeringTests
{
    /// <summary>Each project and the Hyprstream projects it may reference directly.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Hyprstream.Interop"] = [],
        ["Hyprstream.Flight"] = [],
        ["Hyprstream.Runtime"] = ["Hyprstream.Interop"],
        ["Hyprstream.Replication"] = ["Hyprstream.Runtime"],
        ["Hyprstream.Service"] = ["Hyprstream.Runtime", "Hyprstream.Flight", "Hyprstream.Replication"],
        ["Hyprstream.Bench"] = ["Hyprstream.Runtime", "Hyprstream.Interop", "Hyprstream.Flight", "Hyprstream.Replication"],
        ["Hyprstream.Server"] = ["Hyprstream.Service", "Hyprstream.Replication", "Hyprstream.Runtime", "Hyprstream.Bench"],
    };

    /// <summary>Internals a project may show: only to the tests, and Interop's handles to Runtime (the layer that wraps them).</summary>
    private static readonly Dictionary<string, string[]> InternalsTo = new()
    {
        ["Hyprstream.Interop"] = ["Hyprstream.Runtime", "Hyprstream.Tests"],
        ["Hyprstream.Runtime"] = ["Hyprstream.Tests"],
        ["Hyprstream.Replication"] = ["Hyprstream.Tests"],
    };

    private static string Root => Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", "..", ".."));

    private static IEnumerable<string> ProjectFiles(string folder) =>
        Directory.EnumerateFiles(Path.Combine(Root, folder), "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"));

    private static (string Project, XElement[] Refs, string[] InternalsVisibleTo) Read(string csproj)
    {
        var doc = XDocument.Load(csproj);
        return (Path.GetFileNameWithoutExtension(csproj),
            doc.Descendants("ProjectReference").ToArray(),
            doc.Descendants("InternalsVisibleTo").Select(e => (string)e.Attribute("Include")!).ToArray());
    }

    private static string RefName(XElement r) => Path.GetFileNameWithoutExtension((string)r.Attribute("Include")!);

    /// <summary>A reference the compiler sees (not one that only orders the build, like the tests' use of the executable).</summary>
    private static bool Compiled(XElement r) => !string.Equals((string?)r.Attribute("ReferenceOutputAssembly"), "false", StringComparison.OrdinalIgnoreCase);

    [Test]
    public void EverySourceProject_IsKnown_AndReferencesOnlyTheLayersBelowIt()
    {
        var projects = ProjectFiles("src").Select(Read).ToList();
        Assert.That(projects.Select(p => p.Project), Is.EquivalentTo(Allowed.Keys), "a project was added or removed: place it in the layering here");
        foreach (var (project, refs, _) in projects)
            foreach (var r in refs)
                Assert.That(Allowed[project], Does.Contain(RefName(r)), $"{project} references {RefName(r)}, which is not below it");
    }

    [Test]
    public void NothingCompilesAgainstTheExecutableOrBench()
    {
        foreach (var (project, refs, _) in ProjectFiles("src").Concat(ProjectFiles("tests")).Select(Read))
            foreach (var r in refs.Where(Compiled))
                if (project != "Hyprstream.Server")
                    Assert.That(RefName(r), Is.Not.EqualTo("Hyprstream.Server").And.Not.EqualTo("Hyprstream.Bench"), $"{project} compiles against {RefName(r)}");
    }

    [Test]
    public void InternalsAreShownOnlyToTheTests_AndInteropToRuntime()
    {
        foreach (var (project, _, visibleTo) in ProjectFiles("src").Select(Read))
            foreach (var friend in visibleTo)
                Assert.That(InternalsTo.GetValueOrDefault(project, []), Does.Contain(friend), $"{project} shows its internals to {friend}");
    }

    [Test]
    public void CompiledAssemblies_ReferenceOnlyTheirLayers()
    {
        var dir = TestContext.CurrentContext.TestDirectory;
        foreach (var (name, allowed) in Allowed.Where(kv => kv.Key != "Hyprstream.Server"))
        {
            var asm = Assembly.LoadFrom(Path.Combine(dir, name + ".dll"));
            var ours = asm.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("Hyprstream", StringComparison.Ordinal) || n == "hyprstream");
            Assert.That(ours, Is.SubsetOf(allowed), $"{name}.dll");
        }
        var cli = Assembly.LoadFrom(Path.Combine(dir, "hyprstream.dll"));
        Assert.That(cli.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("Hyprstream", StringComparison.Ordinal)),
            Is.SubsetOf(Allowed["Hyprstream.Server"]), "hyprstream.dll");
        var tests = typeof(LayeringTests).Assembly.GetReferencedAssemblies().Select(a => a.Name);
        Assert.That(tests, Does.Not.Contain("hyprstream").And.Not.Contain("Hyprstream.Bench"), "the tests compile against the executable or Bench");
    }
}
