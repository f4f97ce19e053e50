#!/bin/sh
# Builds the tiny test guest into BUILD/vm/: Debian's cloud kernel (fetched
# with apt-get download, unpacked, never installed) and an initramfs with
# busybox-static, ballast-agent, ballast-load and ./init. Both are cached:
# the kernel under $BALLAST_VM_CACHE (default /var/cache/ballast), the image
# by a hash of all its inputs. Usage: build-image.sh [BUILD_DIR]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
out="$build/vm"
meta_pkg=linux-image-cloud-amd64
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_balloon virtio_console virtio_blk"

say() { echo "build-image: $*"; }
die() { echo "build-image: error: $*" >&2; exit 1; }

if [ -n "${BALLAST_VM_CACHE:-}" ]; then
    cache=$BALLAST_VM_CACHE
elif mkdir -p /var/cache/ballast 2>/dev/null && [ -w /var/cache/ballast ]; then
    cache=/var/cache/ballast
else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/ballast
fi
mkdir -p "$cache/kernel" "$out"

agent="$build/guest-agent/ballast-agent"
load="$build/guest-agent/ballast-load"
[ -x "$agent" ] || die "$agent missing: build first (scripts/build.sh)"
[ -x "$load" ] || die "$load missing: build first (scripts/build.sh)"
busybox=/bin/busybox
[ -x "$busybox" ] || die "/bin/busybox missing: install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
    die "/bin/busybox is dynamically linked: install busybox-static"
fi
for tool in cpio gzip dpkg-deb sha256sum apt-get apt-cache; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

# ---- kernel: the package the cloud meta-package depends on ----
kernel_pkg() {
    apt-cache depends --important "$meta_pkg" 2>/dev/null \
        | awk '/Depends: linux-image-/ {print $2; exit}'
}
pkg=$(kernel_pkg || true)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    say "no package lists know $meta_pkg: running apt-get update"
    apt-get update -q >/dev/null || true
    pkg=$(kernel_pkg || true)
fi
ver=
if [ -n "$pkg" ]; then
    ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
fi

kdir=
if [ -n "$pkg" ] && [ -n "$ver" ]; then
    kdir="$cache/kernel/${pkg}_$ver"
    if [ -f "$kdir/.complete" ]; then
        say "kernel $pkg $ver: cached in $kdir"
    else
        say "kernel $pkg $ver: downloading"
        tmp=$(mktemp -d "$cache/kernel/.dl.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        if (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null); then
            deb=$(ls "$tmp"/*.deb)
            mkdir -p "$tmp/x"
            dpkg-deb -x "$deb" "$tmp/x"
            rm -rf "$kdir"
            mkdir -p "$kdir/modules"
            cp "$tmp"/x/boot/vmlinuz-* "$kdir/vmlinuz"
            cp "$tmp"/x/boot/config-* "$kdir/config" 2>/dev/null || true
            release=$(ls "$tmp/x/lib/modules")
            echo "$release" > "$kdir/release"
            for m in $modules; do
                f=$(find "$tmp/x/lib/modules/$release/kernel" -name "$m.ko" -o -name "$m.ko.xz" \
                        -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n 1)
                [ -n "$f" ] || die "module $m not in $pkg"
                # busybox insmod wants plain ELF: decompress at build time.
                case "$f" in
                    *.ko) cp "$f" "$kdir/modules/$m.ko" ;;
                    *.ko.xz) xz -dc "$f" > "$kdir/modules/$m.ko" 2>/dev/null \
                                 || "$busybox" xz -dc "$f" > "$kdir/modules/$m.ko" ;;
                    *.ko.gz) gzip -dc "$f" > "$kdir/modules/$m.ko" ;;
                    *.ko.zst) zstd -qdc "$f" > "$kdir/modules/$m.ko" ;;
                esac
            done
            touch "$kdir/.complete"
            rm -rf "$tmp"
            trap - EXIT
            say "kernel $release unpacked into $kdir"
        else
            rm -rf "$tmp"
            trap - EXIT
            say "download of $pkg $ver failed"
            kdir=
        fi
    fi
fi
if [ -z "$kdir" ]; then
    # Offline, or the archive moved on: fall back to the newest cached kernel.
    kdir=$(ls -d "$cache"/kernel/*/.complete 2>/dev/null | sort -V | tail -n 1 || true)
    kdir=${kdir%/.complete}
    [ -n "$kdir" ] || die "no kernel: cannot resolve/download $meta_pkg and nothing cached in $cache/kernel"
    say "using cached kernel $kdir"
fi
release=$(cat "$kdir/release")

# ---- initramfs, cached by the hash of its inputs ----
inputs_hash=$(
    {
        sha256sum "$here/build-image.sh" "$here/init" "$busybox" "$agent" "$load" "$kdir/vmlinuz"
        for m in $modules; do sha256sum "$kdir/modules/$m.ko"; done
    } | awk '{print $1}' | sha256sum | awk '{print $1}')
if [ -f "$out/image.sha256" ] && [ "$(cat "$out/image.sha256")" = "$inputs_hash" ] \
   && [ -f "$out/initrd.img" ] && [ -f "$out/vmlinuz" ]; then
    say "image up to date in $out (inputs $inputs_hash)"
    exit 0
fi

say "assembling initramfs (inputs $inputs_hash)"
root=$(mktemp -d "$out/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" \
         "$root/tmp" "$root/run" "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cp "$agent" "$load" "$root/bin/"
strip --strip-debug "$root/bin/ballast-agent" "$root/bin/ballast-load" 2>/dev/null || true
for m in $modules; do cp "$kdir/modules/$m.ko" "$root/lib/modules/"; done
cp "$here/init" "$root/init"
chmod 0755 "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n > "$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
cp "$kdir/vmlinuz" "$out/vmlinuz"
echo "$release" > "$out/kernel-release"
echo "$inputs_hash" > "$out/image.sha256"
rm -rf "$root"
trap - EXIT
say "built $out/initrd.img ($(du -k "$out/initrd.img" | awk '{print $1}') KiB) and $out/vmlinuz (kernel $release)"
