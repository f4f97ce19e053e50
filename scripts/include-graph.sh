#!/bin/sh
# Prints the include graph of controller/ by layer and fails (exit 1) when a
# file includes a header of a layer above its own. Layers, lowest first:
#   0 lib       qmp/, policy/, guest-agent/ wire format, generated config
#   1 services  probes/, sample, config, control socket, agent protocol, decision log,
#               HTTP server, metrics text
#   2 vm        vm.h and its parts (agent link, JSON)
#   3 backends  backends/ (qmp-dir, QMP per VM, libvirt)
#   4 manager   manager and its command table; the release at stop
#   5 daemon    ballastd.c, ballastctl.c
# Usage: scripts/include-graph.sh [--edges]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

layer_of () {
    case "$1" in
        ballastd.c|ballastctl.c|ctl-*.c|ctl-*.h) echo 5 ;;
        manager*.c|manager*.h|release.c|release.h) echo 4 ;;
        backends/*|vmdir.h|vm-qmp.h|libvirt.h|libvirt-private.h) echo 3 ;;
        vm.c|vm.h|vm-*.c|vm-*.h) echo 2 ;;
        probes/*|sample.*|config.*|control.*|agent-proto.*|decision-log.*|http.*|metrics.*|journal.*|rate-limit.*) echo 1 ;;
        host.h|ksm.h|proc.h|roots.h|sdnotify.h) echo 1 ;;
        *) echo 0 ;;
    esac
}
name_of () {
    case "$1" in
        0) echo lib ;; 1) echo services ;; 2) echo vm ;; 3) echo backends ;;
        4) echo manager ;; 5) echo daemon ;;
    esac
}

bad=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
cd controller
for f in $(find . -name '*.[ch]' | sed 's|^\./||' | sort); do
    from=$(layer_of "$f")
    for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
        to=$(layer_of "$h")
        echo "$(name_of "$from") $f -> $h $(name_of "$to")" >>"$edges"
        if [ "$to" -gt "$from" ]; then
            echo "UPWARD: $f ($(name_of "$from")) includes $h ($(name_of "$to"))"
            bad=1
        fi
    done
done
if [ "${1:-}" = "--edges" ]; then
    cat "$edges"
else
    # One line per file: what it includes from controller's own layers.
    awk '$5 != "lib" { a[$2] = a[$2] " " $4 } END { for (f in a) print f ":" a[f] }' "$edges" | sort
fi
echo "files including manager.h:" $(grep -l '#include "manager.h"' $(find . -name '*.[ch]') | sed 's|^\./||' | sort)
if [ "$bad" -ne 0 ]; then
    echo "include-graph: upward includes found"
    exit 1
fi
echo "include-graph: every include points down or sideways"
