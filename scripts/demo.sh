#!/bin/sh
# The main job. Until the daemon's control loop exists this builds
# everything and prints ballastd's version (a placeholder, by design).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
BALLAST_NO_FUZZ=1 "$top/scripts/build.sh"
"$top/build/controller/ballastd" --version
echo "demo: the daemon's control loop is not built yet; this placeholder only shows the version."
