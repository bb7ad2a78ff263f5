#!/usr/bin/env bash
# Packs every src project into a local folder feed, checks each package's metadata, then builds and runs an app
# outside the solution that restores Ipc from that feed: the steps docs/getting-started.md shows.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
feed="$work/feed"
suffix="local.$(date +%s)"
packages="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
# This run's version is unique, so the package cache cannot serve a stale copy; remove it again afterwards.
trap 'rm -rf "$work" "$packages"/ipc*/"0.1.0-$suffix"' EXIT

# eng/test.sh has just built Release; standalone runs build here.
no_build=()
[ "${IPC_SKIP_BUILD:-}" = "1" ] && no_build=(--no-build)
dotnet pack Ipc.Abstractions.sln -c Release -o "$feed" --version-suffix "$suffix" "${no_build[@]}" -nologo -v quiet >/dev/null

status=0
for project in src/*/; do
  id=$(basename "$project")
  [ -f "$project$id.csproj" ] || continue # src/Shared holds sources compiled into several packages, not a package
  nupkg="$feed/$id.0.1.0-$suffix.nupkg"
  if [ ! -f "$nupkg" ]; then echo "pack-smoke: no package for $id" >&2; status=1; continue; fi
  [ -f "${nupkg%.nupkg}.snupkg" ] || { echo "pack-smoke: $id has no symbol package" >&2; status=1; }
  nuspec=$(unzip -p "$nupkg" "$id.nuspec")
  for expected in '<license type="expression">MIT</license>' '<readme>README.md</readme>' '<repository type="git"'; do
    grep -qF "$expected" <<<"$nuspec" || { echo "pack-smoke: $id.nuspec lacks $expected" >&2; status=1; }
  done
  listing=$(unzip -l "$nupkg"); grep -q ' README.md$' <<<"$listing" || { echo "pack-smoke: $id has no README.md" >&2; status=1; }
done
[ $status -eq 0 ] || exit $status

app="$work/app"
mkdir -p "$app"
cat > "$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$app/App.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Ipc" Version="0.1.0-$suffix" />
    <PackageReference Include="Microsoft.Extensions.Hosting" Version="10.0.0" />
  </ItemGroup>
</Project>
XML
cp samples/QuickStart/Program.cs samples/QuickStart/appsettings.json "$app/"
sed -i 's#</Project>#  <ItemGroup><None Update="appsettings.json" CopyToOutputDirectory="PreserveNewest" /></ItemGroup>\n</Project>#' "$app/App.csproj"

out=$(cd "$app" && dotnet run -c Release 2>&1) || { echo "$out" >&2; exit 1; }
grep -q "2 + 3 = 5" <<<"$out" || { echo "pack-smoke: the app did not print its sum:" >&2; echo "$out" >&2; exit 1; }
echo "pack-smoke: $(ls "$feed"/*.nupkg | wc -l) packages checked; an app outside the solution restored Ipc from $feed and ran."
