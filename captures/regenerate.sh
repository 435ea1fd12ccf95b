#!/usr/bin/env bash
# Regenerate the example capture of every built-in scenario (as root: it traces in namespaces).
# Fixed client ports make the figures drawn from them reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
synack=${SYNACK:-"python3 -m tracer"}
for name in $($synack scenarios --names); do
    if [ "$name" = traceroute ]; then  # needs a router to expire the TTL; the client link's capture is kept
        $synack trace traceroute --client-port 40000 --topology routed -o captures/traceroute.pcapng
        mv captures/traceroute.client-link.pcapng captures/traceroute.pcapng
        rm captures/traceroute.server-link.pcapng
        continue
    fi
    $synack trace "$name" --client-port 40000 -o "captures/$name.pcapng"
done
