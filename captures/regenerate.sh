#!/usr/bin/env bash
# Regenerate the example capture of every built-in scenario (as root: it traces in namespaces).
# Fixed client ports make the figures drawn from them reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
synack=${SYNACK:-"python3 -m tracer"}
for name in $($synack scenarios --names); do
    $synack trace "$name" --client-port 40000 -o "captures/$name.pcapng"
done
