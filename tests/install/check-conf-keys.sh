#!/bin/sh
# ballast.conf(5) must list exactly the keys the loader accepts. The loader is
# asked (conf-keys) about every word that could be a key: each string literal
# in controller/ and policy/ sources and each key the man page names.
# Usage: check-conf-keys.sh CONF-KEYS SOURCE-ROOT MAN-SOURCE
set -eu
probe=$1; top=$2; man=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ballast-conf-keys.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The man page: "## [section]" headings, then "*key*" alone on a line.
# [vm NAME] takes every [defaults] key besides its own.
awk '
    /^# / { in_keys = ($0 == "# KEYS") }
    in_keys && /^## \[/ { sub(/^## \[/, ""); sub(/\].*$/, ""); section = $0; next }
    in_keys && /^\*[a-z][a-z0-9-]*\*$/ { gsub(/\*/, ""); print section " " $0 }
' "$man" >"$tmp/man.raw"
{ cat "$tmp/man.raw"; awk '$1 == "defaults" { print "vm NAME " $2 }' "$tmp/man.raw"; } \
    | sort >"$tmp/documented"
[ -s "$tmp/documented" ] || { echo "no keys found in $man"; exit 1; }

{ cat "$top"/controller/*.c "$top"/policy/*.c | grep -o '"[a-z][a-z0-9-]*"' | tr -d '"'
  awk '{ print $NF }' "$tmp/documented"; } | sort -u >"$tmp/candidates"
"$probe" <"$tmp/candidates" | sort >"$tmp/accepted"

if ! diff -u "$tmp/accepted" "$tmp/documented"; then
    echo "ballast.conf(5) and the loader disagree (- accepted by the loader, + documented)"
    exit 1
fi
echo "ballast.conf(5) documents the $(wc -l <"$tmp/accepted") keys the loader accepts"
