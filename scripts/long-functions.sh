#!/bin/sh
# long-functions.sh: lists C functions longer than N lines (default 150) in the
# given directories (default: the source tree without build*/ and .git), as
# `file:line name length`.
#
# Usage: scripts/long-functions.sh [-n N] [DIR...]
#
# Made for the project's GNU-style layout: the function's name starts a line
# in column 0 (`name (args`), its body opens with `{` in column 0 and closes
# with `}` in column 0. `line` is the line of the name; `length` counts the
# lines from the name to the closing brace. Exits 1 if any function is listed,
# so it can guard a build step.
set -eu

limit=150
if [ "${1-}" = "-n" ]; then
    [ $# -ge 2 ] || { echo "usage: $0 [-n N] [DIR...]" >&2; exit 2; }
    limit=$2
    shift 2
fi
case $limit in
    '' | *[!0-9]*) echo "$0: -n wants a number, not '$limit'" >&2; exit 2 ;;
esac
# Without directories: the source tree, less build directories and .git.
prune=
if [ $# -eq 0 ]; then
    cd "$(dirname "$0")/.."
    set -- .
    prune=1
fi

# File names in this tree have no newlines, so a line per name is safe.
list_sources() {
    if [ -n "$prune" ]; then
        find "$@" \( -name 'build*' -o -name .git \) -prune -o \
            -type f \( -name '*.c' -o -name '*.h' \) -print
    else
        find "$@" -type f \( -name '*.c' -o -name '*.h' \)
    fi
}

list_sources "$@" | LC_ALL=C sort | {
    found=0
    while IFS= read -r f; do
        awk -v limit="$limit" '
            # A declarator line in column 0: the name is the identifier just
            # before its first "(". A line without "(" (a return type on its
            # own line, "typedef struct") or ending in ";" forgets the name.
            !in_body && /^[A-Za-z_]/ {
                if (index ($0, "(") > 0 && $0 !~ /;[ \t]*$/) {
                    head = substr ($0, 1, index ($0, "(") - 1)
                    sub (/[ \t]+$/, "", head)
                    n = split (head, words, /[^A-Za-z0-9_]+/)
                    name = words[n]
                    name_line = FNR
                } else
                    name = ""
                next
            }
            !in_body && /;[ \t]*$/ { name = "" }
            !in_body && /^\{/ {
                if (name != "")
                    in_body = 1
                next
            }
            in_body && /^\}/ {
                len = FNR - name_line + 1
                if (len > limit)
                    printf "%s:%d %s %d\n", FILENAME, name_line, name, len
                in_body = 0
                name = ""
            }
        ' "$f" | grep . && found=1
    done
    [ "$found" -eq 0 ]
}
