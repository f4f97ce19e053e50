#!/bin/bash
# The bash completions complete what the programs take: every command that
# `ballastctl --help` lists and every option of `ballastd --help`, with
# bash-completion's helpers stubbed (the package need not be installed).
# Usage: check-completion.sh SOURCE-ROOT BALLASTCTL BALLASTD
set -u
src=$1 ctl=$2 daemon=$3
fail() { echo "check-completion: $*" >&2; exit 1; }

# What bash-completion's _init_completion sets, from COMP_WORDS/COMP_CWORD.
_init_completion() {
    words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    cur=${words[cword]} prev=${words[cword - 1]}
}
_filedir() { COMPREPLY=(); }
compopt() { :; }
complete() { :; }
. "$src/configs/ballastctl.bash-completion" || fail "ballastctl completion does not load"
. "$src/configs/ballastd.bash-completion" || fail "ballastd completion does not load"

# complete FUNC WORDS...: the replies for the last word.
complete_words() {
    local fn=$1; shift
    COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMPREPLY=()
    "$fn"
    printf '%s\n' "${COMPREPLY[@]}" | sort
}

want=$("$ctl" --help | sed -n '/^Commands:/,$p' | awk 'NR > 1 && /^  [a-z]/ { print $1 }' | sort)
got=$(complete_words _ballastctl ballastctl '')
[ -n "$want" ] || fail "ballastctl --help lists no commands"
[ "$want" = "$got" ] || fail "ballastctl commands: --help has [$want], completion [$got]"

want=$("$ctl" --help | grep -o -- '--[a-z-]*' | grep -v -- '--help-all' | sort -u)
got=$(complete_words _ballastctl ballastctl --)
[ "$want" = "$got" ] || fail "ballastctl options: --help has [$want], completion [$got]"

want=$("$daemon" --help | grep -o -- '--[a-z-]*' | grep -v -- '--help-all' | sort -u)
got=$(complete_words _ballastd ballastd --)
[ "$want" = "$got" ] || fail "ballastd options: --help has [$want], completion [$got]"

got=$(complete_words _ballastctl ballastctl -o NAME,ACT)
[ "$got" = "NAME,ACTUAL" ] || fail "ballastctl -o NAME,ACT completes to [$got]"
got=$(complete_words _ballastctl ballastctl dry-run o)
[ "$got" = "$(printf 'off\non')" ] || fail "dry-run completes to [$got]"
echo "check-completion: ballastctl and ballastd complete what --help lists"
