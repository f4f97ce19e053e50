#!/bin/sh
# Renders each man page given on the command line as man(1) would and fails on
# any groff/man warning or a NAME line that lexgrog (whatis/apropos) cannot read.
# Usage: check-man.sh PAGE...
set -u
status=0
for page in "$@"; do
    ok=0
    warnings=$(LC_ALL=C.UTF-8 man --warnings -l -Tutf8 "$page" 2>&1 >/dev/null)
    if [ -n "$warnings" ]; then
        echo "$page: man --warnings:"; echo "$warnings"; ok=1
    fi
    if ! lexgrog "$page" >/dev/null 2>&1; then
        echo "$page: lexgrog cannot parse its NAME section"; ok=1
    fi
    if [ $ok -eq 0 ]; then echo "$page: ok"; else echo "$page: FAILED"; status=1; fi
done
exit $status
