#!/bin/sh
# Configures and builds ballast into build/ (gcc, warnings are errors) and,
# when clang is present, build-fuzz/ (clang, ASan+UBSan, libFuzzer targets,
# and the host-side integration tests, run against sanitized daemons).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ ! -f build/build.ninja ]; then
    CC=gcc meson setup build --werror
fi
meson compile -C build
if command -v clang >/dev/null 2>&1 && [ "${BALLAST_NO_FUZZ:-0}" != 1 ]; then
    if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz --werror -Dfuzz=true -Dintegration=true \
            -Db_sanitize=address,undefined -Db_lundef=false
    fi
    meson compile -C build-fuzz
fi
