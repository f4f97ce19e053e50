#!/bin/sh
# Installs ballast into temp DESTDIRs (prefix /usr, systemd/udev dirs given
# explicitly so the list does not depend on the machine) and compares the
# installed files with tests/install/*.txt: a host build without the agent,
# and a guest-only build. Then checks the installed unit with systemd-analyze
# verify and the installed example config with ballastd --check-config.
# Usage: scripts/check-install.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ballast-install.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }
dirs="--prefix=/usr -Dsystemdunitdir=/usr/lib/systemd/system -Dtmpfilesdir=/usr/lib/tmpfiles.d
 -Dudevrulesdir=/usr/lib/udev/rules.d -Dbashcompletiondir=/usr/share/bash-completion/completions"

# install_tree NAME MESON-OPTIONS...: configure, build, install into $dir/NAME.
install_tree() {
    name=$1; shift
    # shellcheck disable=SC2086
    CC=${CC:-gcc} meson setup "$dir/build-$name" "$top" --werror $dirs "$@" >/dev/null
    meson compile -C "$dir/build-$name" >/dev/null
    DESTDIR="$dir/$name" meson install --no-rebuild -C "$dir/build-$name" >/dev/null
}

# check_list NAME: installed files and empty dirs against tests/install/NAME.txt.
check_list() {
    (cd "$dir/$1" && find . \( ! -type d -o -type d -empty \) -printf '/%P\n' | sort) \
        >"$dir/$1.list"
    if ! diff -u "$top/tests/install/$1.txt" "$dir/$1.list"; then
        fail "$1: installed files differ from tests/install/$1.txt (- expected, + installed)"
    fi
    echo "check-install: $1: $(wc -l <"$dir/$1.list") paths as listed"
}

install_tree host -Dguest-agent=false -Dtests=false -Dintegration=false -Dman=enabled
check_list host
install_tree guest -Dhost=false -Dman=enabled
check_list guest

# Every @placeholder@ substituted (the guides may show one).
if grep -rIl --exclude-dir=doc '@[A-Za-z_]*@' "$dir/host" "$dir/guest"; then
    fail "unsubstituted @...@ in the files above"
fi

# The units, with their binaries looked up inside the DESTDIR.
for unit in host/usr/lib/systemd/system/ballastd.service \
            guest/usr/lib/systemd/system/ballast-agent.service; do
    tree=${unit%%/*}
    sed "s|=/usr/sbin/|=$dir/$tree/usr/sbin/|; s|--config /etc/|--config $dir/$tree/etc/|" \
        "$dir/$unit" >"$dir/$(basename "$unit")"
    MANPATH="$dir/host/usr/share/man:$dir/guest/usr/share/man" \
        systemd-analyze verify "$dir/$(basename "$unit")" || fail "systemd-analyze verify $unit"
done
echo "check-install: units verify"

# The installed example config loads without a warning.
out=$("$dir/host/usr/sbin/ballastd" --check-config --config "$dir/host/etc/ballast/ballast.conf" 2>&1)
case $out in
    *warning*) fail "example config: $out" ;;
esac
echo "check-install: $out"
echo "check-install: ok"
