using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Hyprstream.Flight.Rpc;
using Hyprstream.Runtime;
using Hyprstream.Tests.Service;

namespace Hyprstream.Tests.Packaging;

/// <summary>
/// The packages in artifacts/packages (`./build.sh pack`; `./build.sh test` packs first) used the way their users use
/// them: a fresh console project restores `Hyprstream` from that folder and saves and loads a .vdb; the tool installs
/// into a tool path and serves. Every restore and install happens in an <see cref="IsolatedNuGet"/> world. Where the
/// tests run as root, the host's copies of the bundled libraries are hidden from the loader
/// (<see cref="HiddenSystemLibraries"/>); everywhere, readelf/ldd and /proc/self/maps show each dependency resolving
/// inside the package. Slow (restore, build, install), so they share one fixture.
/// </summary>
[TestFixture, NonParallelizable, Category("Packaging")]
public sealed class PackageTests
{
    private const string Rid = "linux-x64";
    private string _root = null!;
    private string _feed = null!;
    private string _version = null!;
    private IReadOnlySet<string> _system = null!;
    private IsolatedNuGet _nuget = null!;

    [OneTimeSetUp]
    public void FindPackages()
    {
        _root = NodeInteropTests.RepoRoot();
        _feed = Path.Combine(_root, "artifacts", "packages");
        // The version the build stamped (Directory.Build.props, the one place it is set), without the +commit part.
        _version = typeof(SparseAdapter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        foreach (var id in new[] { "Hyprstream", "Hyprstream.Flight", "Hyprstream.Replication", "Hyprstream.Service", "Hyprstream.Tool" })
            Assert.That(File.Exists(Package(id)), Is.True, $"{Package(id)} is missing: run ./build.sh pack (./build.sh test packs before testing)");
        _system = ElfDependencies.SystemLibraries(_root);
        _nuget = new IsolatedNuGet(_feed);
    }

    [OneTimeTearDown]
    public void Cleanup() => _nuget?.Dispose();

    private string Package(string id, string ext = "nupkg") => Path.Combine(_feed, $"{id}.{_version}.{ext}");

    private static XElement Nuspec(ZipArchive zip) =>
        XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).Root!;

    private static IEnumerable<XElement> Named(XElement e, string name) => e.Descendants().Where(d => d.Name.LocalName == name);

    private static string Meta(XElement nuspec, string name) => Named(nuspec, name).First().Value;

    [Test]
    public void Hyprstream_CarriesRuntimeInteropTheNativeFolderNoticesAndMetadata()
    {
        using var zip = ZipFile.OpenRead(Package("Hyprstream"));
        var files = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.That(files, Is.SupersetOf(new[]
        {
            "lib/net10.0/Hyprstream.Runtime.dll", "lib/net10.0/Hyprstream.Interop.dll", "lib/net10.0/Hyprstream.Runtime.xml",
            $"runtimes/{Rid}/native/libhyprstream_native.so", $"runtimes/{Rid}/native/hyprstream_kernels.ptx",
            $"runtimes/{Rid}/native/libopenvdb.so.10.0", $"runtimes/{Rid}/native/libtbb.so.12", $"runtimes/{Rid}/native/libblosc.so.1",
            "THIRD-PARTY-NOTICES.txt", "README.md",
        }));
        var nuspec = Nuspec(zip);
        Assert.That(Meta(nuspec, "id"), Is.EqualTo("Hyprstream"));
        Assert.That(Meta(nuspec, "version"), Is.EqualTo(_version));
        Assert.That(Meta(nuspec, "license"), Is.Not.Empty);
        Assert.That(Meta(nuspec, "readme"), Is.EqualTo("README.md"));
        Assert.That(Named(nuspec, "repository").Single().Attribute("type")?.Value, Is.EqualTo("git"));
        var deps = Named(nuspec, "dependency").Select(d => d.Attribute("id")!.Value).ToList();
        Assert.That(deps, Does.Contain("System.Numerics.Tensors"));
        Assert.That(deps, Has.None.StartsWith("Hyprstream"), "Interop is carried inside, not a package of its own");

        // Each bundled library is named, with its licence, in the notices' table.
        var notices = new StreamReader(zip.GetEntry("THIRD-PARTY-NOTICES.txt")!.Open()).ReadToEnd();
        Assert.That(notices, Does.Not.Contain("NOTICE-MISSING"));
        foreach (var lib in files.Where(f => f.StartsWith($"runtimes/{Rid}/native/lib", StringComparison.Ordinal)).Select(Path.GetFileName))
            if (lib != "libhyprstream_native.so")
                Assert.That(notices, Does.Contain(lib + " — from the Debian package"), $"{lib} has no notice");

        using var symbols = ZipFile.OpenRead(Package("Hyprstream", "snupkg"));
        Assert.That(symbols.Entries.Select(e => e.FullName), Is.SupersetOf(new[] { "lib/net10.0/Hyprstream.Runtime.pdb", "lib/net10.0/Hyprstream.Interop.pdb" }));
    }

    [Test]
    public void ServiceAndFlight_DependOnHyprstreamAtTheSameVersion_AndTheToolIsADotnetTool()
    {
        using (var zip = ZipFile.OpenRead(Package("Hyprstream.Service")))
        {
            var deps = Named(Nuspec(zip), "dependency").ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
            Assert.That(deps["Hyprstream"], Is.EqualTo(_version));
            Assert.That(deps["Hyprstream.Flight"], Is.EqualTo(_version));
            Assert.That(deps["Hyprstream.Replication"], Is.EqualTo(_version));
            Assert.That(deps, Does.ContainKey("Grpc.AspNetCore.Server"));
            Assert.That(Named(Nuspec(zip), "frameworkReference").Select(f => f.Attribute("name")!.Value), Does.Contain("Microsoft.AspNetCore.App"));
            Assert.That(zip.GetEntry("lib/net10.0/Hyprstream.Service.dll"), Is.Not.Null);
        }
        Assert.That(File.Exists(Package("Hyprstream.Service", "snupkg")), Is.True);
        using (var zip = ZipFile.OpenRead(Package("Hyprstream.Replication")))
        {
            var deps = Named(Nuspec(zip), "dependency").ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
            Assert.That(deps["Hyprstream"], Is.EqualTo(_version));
            Assert.That(deps, Does.ContainKey("AWSSDK.S3"));
            Assert.That(zip.GetEntry("lib/net10.0/Hyprstream.Replication.dll"), Is.Not.Null);
        }
        using var tool = ZipFile.OpenRead(Package("Hyprstream.Tool"));
        var files = tool.Entries.Select(e => e.FullName).ToHashSet();
        Assert.That(Named(Nuspec(tool), "packageType").Select(p => p.Attribute("name")!.Value), Does.Contain("DotnetTool"));
        Assert.That(files, Is.SupersetOf(new[]
        {
            "tools/net10.0/any/hyprstream.dll", "tools/net10.0/any/DotnetToolSettings.xml", "tools/net10.0/any/libhyprstream_native.so",
            "tools/net10.0/any/libopenvdb.so.10.0", "tools/net10.0/any/hyprstream_kernels.ptx", "THIRD-PARTY-NOTICES.txt",
        }));
    }

    [Test]
    public void PackagedNativeLibraries_ResolveEveryDependencyInsideThePackage()
    {
        var native = Path.Combine(_nuget.Path, "extracted-native");
        using (var zip = ZipFile.OpenRead(Package("Hyprstream")))
            foreach (var e in zip.Entries.Where(e => e.FullName.StartsWith($"runtimes/{Rid}/native/", StringComparison.Ordinal)))
            {
                Directory.CreateDirectory(native);
                e.ExtractToFile(Path.Combine(native, e.Name), overwrite: true);
            }
        var libs = Directory.GetFiles(native).Where(ElfDependencies.IsElf).ToList();
        var names = libs.Select(Path.GetFileName).ToHashSet();
        Assert.That(names, Does.Contain("libhyprstream_native.so"));
        foreach (var lib in libs)
        {
            // The shim's DT_RPATH $ORIGIN reaches its dependencies' dependencies only while they carry no path of their own.
            var (needed, rpath, runpath) = ElfDependencies.Read(lib);
            var shim = Path.GetFileName(lib) == "libhyprstream_native.so";
            Assert.That((rpath, runpath), Is.EqualTo(shim ? ("$ORIGIN", null) : ((string?)null, (string?)null)), $"{Path.GetFileName(lib)}: RPATH, RUNPATH");
            foreach (var n in needed)
                Assert.That(names.Contains(n) || _system.Contains(n), Is.True, $"{Path.GetFileName(lib)} needs {n}, which is neither in the package nor a system library");
        }
        var hide = HiddenSystemLibraries.SystemCopies(names.Where(n => n != "libhyprstream_native.so")!);
        var empty = Path.Combine(_nuget.Path, "empty");
        File.WriteAllBytes(empty, []);
        var wraps = new List<Func<ProcessStartInfo, ProcessStartInfo>?> { null };
        if (HiddenSystemLibraries.Unavailable == null) wraps.Add(psi => HiddenSystemLibraries.Wrap(psi, hide, empty));
        else TestContext.Out.WriteLine($"only ldd with the system libraries in place: {HiddenSystemLibraries.Unavailable}");
        foreach (var wrap in wraps)
            foreach (var (name, path) in ElfDependencies.Resolve(Path.Combine(native, "libhyprstream_native.so"), wrap))
            {
                Assert.That(path, Is.Not.Null, $"{name} is not found{(wrap == null ? "" : " with the system copies hidden")}");
                if (!_system.Contains(name))
                    Assert.That(Path.GetDirectoryName(path), Is.EqualTo(native), $"{name} resolves to {path}, outside the package");
            }
    }

    [Test]
    public async Task BundleScript_RefusesAShimWithoutRPathOrigin_AndCopiesNothing()
    {
        // Any library without DT_RPATH $ORIGIN stands in for a shim linked the wrong way (a RUNPATH, or no path).
        var wrong = Path.Combine(_nuget.Path, "not-the-shim.so");
        using (var zip = ZipFile.OpenRead(Package("Hyprstream")))
            zip.GetEntry($"runtimes/{Rid}/native/libz.so.1")!.ExtractToFile(wrong, overwrite: true);
        var outDir = Path.Combine(_nuget.Path, "bundle-refused");
        Directory.CreateDirectory(outDir);
        var (code, _, err) = await IsolatedNuGet.RunAsync(_nuget.Start("bash", [Path.Combine(_root, "packaging", "bundle-native.sh"), wrong, outDir]), 60);
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("must carry DT_RPATH $ORIGIN").And.Contain("--disable-new-dtags"));
        Assert.That(Directory.EnumerateFileSystemEntries(outDir), Is.Empty);
    }

    [Test]
    public async Task FreshConsoleProject_AddsHyprstream_SavesAndLoadsAVdb_FromThePackagesLibrariesOnly()
    {
        var project = Path.Combine(_nuget.Path, "consumer");
        Directory.CreateDirectory(project);
        File.WriteAllText(Path.Combine(project, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Hyprstream" Version="{_version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(project, "Program.cs"), ConsumerProgram);
        var build = await IsolatedNuGet.RunAsync(_nuget.Start("dotnet", ["build", "-c", "Release", "--configfile", _nuget.ConfigFile, "-nologo", "-v:q"], project), 600);
        Assert.That(build.Code, Is.EqualTo(0), $"dotnet build of a project using the package failed:\n{build.Out}\n{build.Err}");
        Assert.That(Directory.Exists(Path.Combine(_nuget.Packages, "hyprstream", _version)), Is.True, "restored into the isolated packages folder");

        var output = Path.Combine(project, "bin", "Release", "net10.0");
        var native = Path.Combine(output, "runtimes", Rid, "native");
        Assert.That(File.Exists(Path.Combine(native, "libopenvdb.so.10.0")), Is.True, "the build copies the package's native folder");
        var data = Path.Combine(_nuget.Path, "consumer-data");
        Directory.CreateDirectory(data);
        var psi = _nuget.Start("dotnet", [Path.Combine(output, "Consumer.dll"), data]);
        var bundled = Directory.GetFiles(native, "lib*.so*").Select(Path.GetFileName).Where(n => n != "libhyprstream_native.so").ToList();
        if (HiddenSystemLibraries.Unavailable == null)
        {
            var empty = Path.Combine(_nuget.Path, "empty-for-consumer");
            File.WriteAllBytes(empty, []);
            psi = HiddenSystemLibraries.Wrap(psi, HiddenSystemLibraries.SystemCopies(bundled!), empty);
        }
        else TestContext.Out.WriteLine($"running with the system libraries in place: {HiddenSystemLibraries.Unavailable}");
        var (code, stdout, stderr) = await IsolatedNuGet.RunAsync(psi, 120);
        Assert.That(code, Is.EqualTo(0), $"the program failed:\n{stdout}\n{stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Does.Contain("loaded 100 active weights, 0 wrong"));
        Assert.That(File.Exists(Path.Combine(data, "packaged.vdb")), Is.True);

        // Where each native library was mapped from: every bundled one, and the shim, from the package's folder.
        var mapped = lines.Where(l => l.StartsWith("mapped ", StringComparison.Ordinal)).Select(l => l["mapped ".Length..]).ToList();
        foreach (var name in bundled.Append("libhyprstream_native.so"))
            foreach (var path in mapped.Where(m => Path.GetFileName(m) == name))
                Assert.That(Path.GetDirectoryName(path), Is.EqualTo(native), $"{name} was loaded from {path}");
        Assert.That(mapped.Select(Path.GetFileName), Does.Contain("libhyprstream_native.so").And.Contain("libopenvdb.so.10.0").And.Contain("libtbb.so.12"));
        // The CUDA backend would load its kernels from the same folder (KernelImages.Find).
        var kernels = lines.Where(l => l.StartsWith("kernel ", StringComparison.Ordinal)).Select(l => l["kernel ".Length..]).ToList();
        Assert.That(kernels, Does.Contain(Path.Combine(native, "hyprstream_kernels.ptx")));
    }

    /// <summary>The program of the fresh project: create, set, save, load, check; then report what it loaded from where.</summary>
    private const string ConsumerProgram = """
        using Hyprstream.Runtime;
        using Hyprstream.Runtime.Apply;

        var path = Path.Combine(args[0], "packaged.vdb");
        const string module = "model.layers.0.self_attn.q_proj";
        using (var a = new SparseAdapter("packaged", "Qwen/Qwen3-1.7B"))
        {
            var m = a.AddModule(module, 64, 128);
            for (int i = 0; i < 100; i++) m.Set(i % 64, i * 7 % 128, i * 0.25f + 1f);
            a.Save(path);
        }
        using var b = SparseAdapter.Load(path);
        var back = b.Modules[module];
        int wrong = 0;
        for (int i = 0; i < 100; i++) if (back[i % 64, i * 7 % 128] != i * 0.25f + 1f) wrong++;
        Console.WriteLine($"loaded {b.ActiveCount} active weights, {wrong} wrong");
        foreach (var file in File.ReadLines("/proc/self/maps").Select(l => l.IndexOf('/') is var s and >= 0 ? l[s..] : "").Where(f => f.Contains(".so")).Distinct())
            Console.WriteLine("mapped " + file);
        foreach (var k in KernelImages.Find()) Console.WriteLine("kernel " + k.Path);
        Console.WriteLine("native " + NativeInfo.BuildInfo);
        return wrong == 0 && b.ActiveCount == 100 ? 0 : 1;
        """;

    [Test]
    public async Task Tool_InstallsIntoAToolPath_PrintsItsVersion_AndServesAnEmptyDataDirectory()
    {
        var tools = Path.Combine(_nuget.Path, "tools");
        var install = await IsolatedNuGet.RunAsync(_nuget.Start("dotnet",
            ["tool", "install", "Hyprstream.Tool", "--version", _version, "--tool-path", tools, "--configfile", _nuget.ConfigFile]), 300);
        Assert.That(install.Code, Is.EqualTo(0), $"dotnet tool install failed:\n{install.Out}\n{install.Err}");
        var exe = Path.Combine(tools, "hyprstream");
        Assert.That(File.Exists(exe), Is.True);

        var bundled = Directory.GetFiles(_nuget.Path, "libopenvdb.so.10.0", SearchOption.AllDirectories);
        Assert.That(bundled, Is.Not.Empty, "the tool carries its native libraries");
        var toolDir = Path.GetDirectoryName(bundled.First(f => f.StartsWith(tools, StringComparison.Ordinal)))!;
        var hide = HiddenSystemLibraries.SystemCopies(Directory.GetFiles(toolDir, "lib*.so*").Select(Path.GetFileName).Where(n => n != "libhyprstream_native.so")!);
        var empty = Path.Combine(_nuget.Path, "empty-for-tool");
        File.WriteAllBytes(empty, []);
        ProcessStartInfo Tool(params string[] args)
        {
            var psi = _nuget.Start(exe, args);
            return HiddenSystemLibraries.Unavailable == null ? HiddenSystemLibraries.Wrap(psi, hide, empty) : psi;
        }

        var version = await IsolatedNuGet.RunAsync(Tool("version"), 120);
        Assert.That(version.Code, Is.EqualTo(0), version.Err);
        Assert.That(version.Out, Does.StartWith($"hyprstream {_version}"));
        Assert.That(version.Out, Does.Contain("openvdb 10."), "the native library loaded and named its OpenVDB");

        var data = Path.Combine(_nuget.Path, "empty-data");
        Directory.CreateDirectory(data);
        using var server = Process.Start(Tool("serve", "--data", data, "--listen", "127.0.0.1:0"))!;
        var stderr = server.StandardError.ReadToEndAsync();
        try
        {
            var first = server.StandardOutput.ReadLineAsync();
            Assert.That(await Task.WhenAny(first, Task.Delay(90_000)), Is.SameAs(first), "serve printed nothing within 90 s");
            var line = await first ?? throw new AssertionException("serve exited: " + await stderr);
            Assert.That(line, Does.Contain("serving 0 adapters"));
            var address = new Uri("http://" + ServeProcess.Authority(line));
            using (var channel = GrpcChannel.ForAddress(address))
            {
                var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = FlightMethods.Service });
                Assert.That(health.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
            }
            using (var client = new FlightClient(address))
                Assert.That(await client.ListFlightsAsync(), Is.Empty);
            // Stopped by its process id, as a service manager would: SIGTERM, then a clean exit.
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString()])) kill.WaitForExit();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await server.WaitForExitAsync(cts.Token);
            Assert.That(server.ExitCode, Is.EqualTo(0), await stderr);
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
        }
    }
}
