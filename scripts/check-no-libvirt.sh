#!/bin/sh
# Builds ballast with the libvirt backend compiled out (-Dlibvirt=disabled,
# warnings are errors) in a temp dir and runs the unit tests there, to show
# the feature switch still builds cleanly. Usage: scripts/check-no-libvirt.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ballast-nolibvirt.XXXXXX")
trap 'rm -rf "$dir"' EXIT
CC=${CC:-gcc} meson setup "$dir" "$top" --werror -Dlibvirt=disabled -Dintegration=false >/dev/null
grep -q '#define HAVE_LIBVIRT 0' "$dir/ballast-config.h"
meson compile -C "$dir"
if nm "$dir/controller/ballastd" | grep -q ' U vir'; then
    echo "check-no-libvirt: ballastd still links libvirt" >&2
    exit 1
fi
meson test -C "$dir" --suite unit --print-errorlogs
echo "check-no-libvirt: ok"
