#!/bin/sh
# Builds the Debian packages from a clean copy of the tree (dpkg-buildpackage
# -b, nocheck: the suites already ran), runs lintian (errors and warnings
# fail), installs both packages with apt-get, checks the installed units with
# systemd-analyze verify, the installed config with ballastd --check-config
# and the binaries' --version, then purges them and checks nothing is left.
# Exit 77 (skipped) where packages cannot be built: no dpkg or not root.
# Usage: scripts/check-deb.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "check-deb: $*"; }
fail() { echo "check-deb: FAILED: $*" >&2; exit 1; }
if ! command -v dpkg-buildpackage >/dev/null || ! command -v apt-get >/dev/null; then
    say "skipped: not a Debian system (no dpkg-buildpackage or apt-get)"; exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
    say "skipped: installing packages needs root"; exit 77
fi
for p in ballast ballast-guest-agent; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        fail "$p is already installed here; this test installs and purges it"
    fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/ballast-deb.XXXXXX")
cleanup() {
    apt-get purge -y -q ballast ballast-guest-agent >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

# A clean tree: the tracked and new files, none of the build directories.
mkdir "$dir/ballast"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --no-recursion) \
        | tar -xf - -C "$dir/ballast"
else
    tar -cf - -C "$top" --exclude='./build' --exclude='./build-*' --exclude='./obj-*' . \
        | tar -xf - -C "$dir/ballast"
fi
say "building packages"
(cd "$dir/ballast" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -b -us -uc) \
    >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; fail "dpkg-buildpackage"; }
ls "$dir"/*.deb
# BALLAST_DEB_OUT=DIR keeps a copy of the packages.
if [ -n "${BALLAST_DEB_OUT:-}" ]; then cp "$dir"/*.deb "$dir"/*.changes "$BALLAST_DEB_OUT"/; fi

say "lintian"
lintian --fail-on error,warning --display-info --show-overrides "$dir"/*.changes 2>&1 | grep -v '^running with root' \
    | tee "$dir/lintian.log" || true
lintian --fail-on error,warning "$dir"/*.changes >/dev/null 2>&1 || fail "lintian (see above)"

# /run/ballast may belong to a ballastd already running here: only a run
# directory this test's install created must go with the purge.
run_dir_ours=""
[ -e /run/ballast ] || run_dir_ours=/run/ballast
say "installing"
(cd "$dir" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    ./ballast_*.deb ./ballast-guest-agent_*.deb) >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log"; fail "apt-get install"; }
files=$(dpkg -L ballast ballast-guest-agent)

for unit in /lib/systemd/system/ballastd.service /lib/systemd/system/ballast-agent.service; do
    systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
    say "verify $unit: ok"
done
out=$(/usr/sbin/ballastd --check-config --config /etc/ballast/ballast.conf 2>&1) \
    || fail "ballastd --check-config: $out"
case $out in *warning*) fail "installed config: $out" ;; esac
say "$out"
ballastctl --version
/usr/sbin/ballast-agent --version
/usr/libexec/ballast/ballast-hook 2>/dev/null && fail "ballast-hook without arguments exited 0"
[ -d /run/ballast/qmp ] || fail "tmpfiles.d did not create /run/ballast/qmp"
[ ! -e /etc/systemd/system/multi-user.target.wants/ballastd.service ] \
    || fail "ballastd was enabled on install"
dpkg-query -W -f='${Conffiles}\n' ballast | grep -q ' /etc/ballast/ballast.conf ' \
    || fail "/etc/ballast/ballast.conf is not a conffile"
man -w ballastd ballast.conf ballastctl ballast-agent >/dev/null || fail "man pages not found"

say "purging"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ballast ballast-guest-agent >"$dir/purge.log" 2>&1 \
    || { cat "$dir/purge.log"; fail "apt-get purge"; }
# The packages' own files and directories; directories that other packages
# share (/usr/bin, /usr/share/man/man8, ...) may stay.
left=""
for f in $files $run_dir_ours /etc/ballast /usr/libexec/ballast /usr/share/doc/ballast \
         /usr/share/doc/ballast-guest-agent \
         /var/lib/systemd/deb-systemd-helper-enabled/ballastd.service.dsh-also; do
    if [ -d "$f" ]; then
        case $f in
            /etc/ballast* | /run/ballast | /usr/libexec/ballast | /usr/share/doc/ballast*) ;;
            *) continue ;;
        esac
    fi
    if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done
[ -z "$left" ] || fail "left behind after purge:$left"
ls /var/lib/dpkg/info/ballast* >/dev/null 2>&1 && fail "dpkg still knows ballast files"
say "purge left nothing behind"
say "ok"
