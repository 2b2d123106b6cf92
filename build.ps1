# build.ps1 — the PowerShell mirror of build.sh for vcpkg users (Windows or Linux with pwsh).
#   ./build.ps1            build the native shim (vcpkg toolchain when VCPKG_ROOT is set) and the .NET solution
#   ./build.ps1 test       build, then run every test
#   ./build.ps1 native     build only the native library
param([ValidateSet('build', 'test', 'native')][string]$Mode = 'build')
$ErrorActionPreference = 'Stop'
$Root = $PSScriptRoot
$Config = if ($env:CONFIG) { $env:CONFIG } else { 'Release' }
$NativeBuild = Join-Path $Root 'build/native'
$NativeOut = Join-Path $Root '.artifacts/native'

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
    'test' {
        Invoke-Native; Invoke-Managed
        dotnet test (Join-Path $Root 'Hyprstream.sln') -c $Config --no-build -nologo
        if ($LASTEXITCODE) { throw 'tests failed' }
    }
}
