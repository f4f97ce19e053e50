#!/bin/sh
# Installs the Debian packages listed in scripts/packages.txt (idempotent:
# apt is only called when something is missing).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^#' "$here/packages.txt" | grep -v '^$')
missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
if [ -z "$missing" ]; then
    echo "setup: all packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages:$missing (run as root to install)" >&2
    exit 1
fi
echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
