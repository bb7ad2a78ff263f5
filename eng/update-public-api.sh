#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to the project's PublicAPI.Unshipped.txt.
# Usage: eng/update-public-api.sh src/Ipc.Pipes   (then review the diff: new public API is a decision, not a side effect)
set -euo pipefail
cd "$(dirname "$0")/.."
for project_dir in "$@"; do
  unshipped="$project_dir/PublicAPI.Unshipped.txt"
  [ -f "$project_dir/PublicAPI.Shipped.txt" ] || echo '#nullable enable' > "$project_dir/PublicAPI.Shipped.txt"
  [ -f "$unshipped" ] || echo '#nullable enable' > "$unshipped"
  for _ in 1 2 3; do
    symbols=$(dotnet build "$project_dir" -c Release -f net10.0 --no-incremental 2>&1 \
      | grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" | sort -u || true)
    [ -n "$symbols" ] || break
    { cat "$unshipped"; echo "$symbols"; } | grep -v '^$' | { read -r first; echo "$first"; sort -u; } > "$unshipped.tmp"
    mv "$unshipped.tmp" "$unshipped"
  done
done
