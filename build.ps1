# build.ps1 — the PowerShell mirror of build.sh for vcpkg users (Windows or Linux with pwsh).
#   ./build.ps1            build the native shim (vcpkg toolchain when VCPKG_ROOT is set) and the .NET solution
#   ./build.ps1 test       build, then run every test
#   ./build.ps1 native     build only the native library
#   ./build.ps1 pack       build, then the NuGet packages into artifacts/packages (as ./build.sh pack; test packs too)
param([ValidateSet('build', 'test', 'native', 'pack')][string]$Mode = 'build')
$ErrorActionPreference = 'Stop'
$Root = $PSScriptRoot
$Config = if ($env:CONFIG) { $env:CONFIG } else { 'Release' }
$NativeBuild = Join-Path $Root 'build/native'
$NativeOut = Join-Path $Root '.artifacts/native'
$Packages = Join-Path $Root 'artifacts/packages'

function Invoke-Native {
    $cmakeArgs = @('-S', (Join-Path $Root 'native'), '-B', $NativeBuild, '-DCMAKE_BUILD_TYPE=Release')
    if ($env:VCPKG_ROOT) {
        $cmakeArgs += "-DCMAKE_TOOLCHAIN_FILE=$($env:VCPKG_ROOT)/scripts/buildsystems/vcpkg.cmake"
        $cmakeArgs += "-DVCPKG_MANIFEST_DIR=$Root"
    }
    if (-not (Test-Path (Join-Path $NativeBuild 'CMakeCache.txt'))) {
        Write-Host '==> configuring native library'
        cmake @cmakeArgs
        if ($LASTEXITCODE) { throw 'cmake configure failed' }
    }
    Write-Host '==> building native library'
    cmake --build $NativeBuild --config Release
    if ($LASTEXITCODE) { throw 'native build failed' }
    New-Item -ItemType Directory -Force $NativeOut | Out-Null
    $lib = Get-ChildItem $NativeBuild -Recurse -Include 'libhyprstream_native.so', 'hyprstream_native.dll', 'libhyprstream_native.dylib' | Select-Object -First 1
    if (-not $lib) { throw 'native library not found after the build' }
    Copy-Item $lib.FullName $NativeOut -Force
    foreach ($k in 'hyprstream_kernels.ptx', 'hyprstream_kernels.fatbin') {
        $f = Join-Path $NativeBuild $k
        if (Test-Path $f) { Copy-Item $f $NativeOut -Force }
    }
    # Linux: every shared library the shim needs beside it, and THIRD-PARTY-NOTICES.txt (as build.sh does).
    if ($IsLinux) {
        bash (Join-Path $Root 'packaging/bundle-native.sh') (Join-Path $NativeBuild 'libhyprstream_native.so') $NativeOut
        if ($LASTEXITCODE) { throw 'bundling the native libraries failed (packaging/bundle-native.sh)' }
    }
}

function Invoke-Pack {
    $notices = Join-Path $NativeOut 'THIRD-PARTY-NOTICES.txt'
    if (-not (Test-Path $notices)) { throw 'no THIRD-PARTY-NOTICES.txt beside the native library: packages are built on Linux (packaging/bundle-native.sh)' }
    if (Select-String -Path $notices -Pattern 'NOTICE-MISSING' -Quiet) { throw "a bundled library has no licence notice (see NOTICE-MISSING in $notices)" }
    Write-Host '==> packing into artifacts/packages'
    if (Test-Path $Packages) { Remove-Item -Recurse -Force $Packages }
    dotnet pack (Join-Path $Root 'Hyprstream.sln') -c $Config --no-build -nologo -clp:ErrorsOnly -v:q -o $Packages
    if ($LASTEXITCODE) { throw 'dotnet pack failed' }
}

function Invoke-Managed {
    Write-Host "==> building .NET solution ($Config)"
    dotnet build (Join-Path $Root 'Hyprstream.sln') -c $Config -nologo -clp:ErrorsOnly -v:q
    if ($LASTEXITCODE) { throw 'dotnet build failed' }
}

if (-not $env:VCPKG_ROOT) { Write-Warning 'VCPKG_ROOT is not set: the native build relies on OpenVDB being installed system-wide.' }
switch ($Mode) {
    'native' { Invoke-Native }
    'build' { Invoke-Native; Invoke-Managed }
    'pack' { Invoke-Native; Invoke-Managed; Invoke-Pack }
    'test' {
        Invoke-Native; Invoke-Managed; Invoke-Pack
        dotnet test (Join-Path $Root 'Hyprstream.sln') -c $Config --no-build -nologo
        if ($LASTEXITCODE) { throw 'tests failed' }
    }
}
