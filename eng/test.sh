#!/usr/bin/env bash
# Builds the solution in Release with warnings as errors and runs every test project.
# Installs what the tests need when it is missing; starts nothing it does not stop; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! command -v dotnet >/dev/null 2>&1; then
  echo "eng/test.sh: the .NET SDK (dotnet) is required; see global.json for the version." >&2
  exit 1
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# The AMQP tests start private RabbitMQ nodes from Debian's rabbitmq-server package (or use $IPC_AMQP_URI).
if [ -z "${IPC_AMQP_URI:-}" ] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  echo "== installing rabbitmq-server for the AMQP tests"
  # The package's postinst would start the system broker on port 5672: a policy-rc.d answering 101 stops that.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    guard=1
  fi
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rabbitmq-server >/dev/null \
    || echo "eng/test.sh: rabbitmq-server could not be installed; the AMQP tests will fail and say how to get a broker." >&2
  [ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi

# The socket and shared-memory tests read listening sockets' backlogs with ss, of iproute2.
if ! command -v ss >/dev/null 2>&1; then
  echo "== installing iproute2 (ss) for the socket and shared-memory tests"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq iproute2 >/dev/null \
    || echo "eng/test.sh: iproute2 could not be installed; the listen-backlog tests will fail and say to install it." >&2
fi

# A private RabbitMQ node lives within this shell's descriptor limit; at 1,024 it stalls under the AMQP tests' load.
if [ -z "${IPC_AMQP_URI:-}" ] && [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 4096 ]; then
  echo "eng/test.sh: this shell may open only $(ulimit -Hn) files (ulimit -Hn); the AMQP tests' private RabbitMQ node needs about 4096, or some of its tests will time out. Raise the limit, or set IPC_AMQP_URI to a broker of your own." >&2
fi

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

echo "== build (Release, warnings as errors)"
dotnet build Ipc.Abstractions.sln -c Release -warnaserror -nologo -clp:NoSummary

# Test folders (socket files, certificates, private broker nodes) and shared-memory segments that exist before the run;
# the run must add none. Nor the runtime's diagnostic endpoints (dotnet-diagnostic-<pid>-*, clr-debug-pipe-<pid>-*) of
# processes that no longer run: a process a test kills cannot remove its own, so tests start theirs without them
# (DOTNET_EnableDiagnostics=0).
tmp="${TMPDIR:-/tmp}"
dead_diagnostics() {
  for f in "$tmp"/dotnet-diagnostic-* "$tmp"/clr-debug-pipe-*; do
    [ -e "$f" ] || continue
    pid=$(basename "$f" | sed -E 's/^(dotnet-diagnostic|clr-debug-pipe)-([0-9]+)-.*/\2/')
    kill -0 "$pid" 2>/dev/null || echo "$f"
  done
}
leftovers() { { find "$tmp" /dev/shm -maxdepth 1 \( -name 'ipc-tests-*' -o -name 'ipc-certs-*' -o -name 'ipc-shm-*' -o -name 'ipc-streams-*' \) 2>/dev/null; dead_diagnostics; } | sort; }
before=$(leftovers)

echo "== test"
status=0
dotnet test Ipc.Abstractions.sln -c Release --no-build --nologo \
  --logger "trx" --results-directory "$results" -- RunConfiguration.TreatNoTestsAsError=false || status=$?

echo "== samples/Tour: every transport's row must run (or say why it cannot)"
dotnet run --project samples/Tour -c Release --no-build || status=1

echo "== packages: pack, then restore and run an app from a local folder feed"
IPC_SKIP_BUILD=1 bash eng/pack-smoke.sh || status=1

left=$(comm -13 <(echo "$before") <(leftovers))
if [ -n "$left" ]; then
  echo "eng/test.sh: the run left these behind:" >&2
  echo "$left" >&2
  status=1
fi

# One plain summary line over every test project.
python3 - "$results" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    counters = ET.parse(path).getroot().find(".//{*}Counters")
    if counters is None:
        continue
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    skipped += int(counters.get("notExecuted", 0))
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY

exit $status
