namespace Hyprstream.Tests;

/// <summary>Runs the real `hyprstream` entry point (Program.Main) in-process, capturing what it prints.</summary>
internal static class Cli
{
    private static readonly object Gate = new();

    /// <summary>
    /// `hyprstream`'s Main, loaded from the built command line beside the tests (the tests do not compile against the
    /// executable; its dependencies load from the same folder).
    /// </summary>
    private static readonly Lazy<System.Reflection.MethodInfo> EntryPoint = new(() =>
        System.Reflection.Assembly.LoadFrom(Path.Combine(TestContext.CurrentContext.TestDirectory, "hyprstream.dll")).EntryPoint
        ?? throw new InvalidOperationException("hyprstream.dll has no entry point"));

    public sealed record Result(int ExitCode, string Out, string Err);

    public static Result Run(params string[] args)
    {
        lock (Gate)
        {
            var oldOut = Console.Out;
            var oldErr = Console.Error;
            var o = new StringWriter();
            var e = new StringWriter();
            Console.SetOut(o);
            Console.SetError(e);
            try
            {
                int rc = (int)EntryPoint.Value.Invoke(null, [args])!;
                return new Result(rc, o.ToString(), e.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }

    /// <summary>Runs and asserts exit code 0, returning stdout.</summary>
    public static string Ok(params string[] args)
    {
        var r = Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), $"hyprstream {string.Join(' ', args)} failed: {r.Err}{r.Out}");
        return r.Out;
    }

    /// <summary>Runs, asserts a non-zero exit with one line on stderr, and returns that line.</summary>
    public static string Fails(params string[] args)
    {
        var r = Run(args);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), $"hyprstream {string.Join(' ', args)} should have failed; printed: {r.Out}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"expected one error line, got: {r.Err}");
        Assert.That(lines[0], Does.StartWith("hyprstream: "));
        return lines[0];
    }
}
