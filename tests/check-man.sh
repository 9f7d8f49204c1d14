#!/bin/sh
# Keeps the man pages in docs/ in step with the programs. For each program
# (CASK_PROGRAMS, from the Makefile's bin_PROGRAMS; the five tools when
# unset) its page docs/PROG.1 or docs/PROG.8 must:
#   - be installed (listed in CASK_MANS, the Makefile's dist_man_MANS);
#   - name the program and the file's section in .TH, and "PROG \-" in NAME;
#   - have the sections an operator looks for;
#   - document in OPTIONS exactly the flags `PROG -help` prints, each as
#       .TP
#       .B \-flag              (a flag without a value)
#       .BI \-flag " ARG"      (a flag with one)
#     every hyphen escaped, and, when -help shows a default, the text
#     "Default: \fBVALUE\fR" in the entry, VALUE exactly as -help prints it;
#   - format without a single warning under `groff -ww -man -Tutf8`.
# Each failure is one line naming the program, the page and the flag.
set -u
src=${CASK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${CASK_BIN:-$(pwd)}
programs=${CASK_PROGRAMS:-cask-master cask-volume cask-rebuild cask-rebalance cask-thrasher}
command -v groff >/dev/null 2>&1 || {
	echo "check-man: groff is missing (Debian: groff-base)" >&2
	exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0

# Prints with printf: dash's echo would eat the \f of "\fB".
fail() {
	printf 'check-man: %s\n' "$*" >&2
	fails=$((fails + 1))
}

# The flag table of `PROG -help`: "name<TAB>value|none<TAB>default" lines
# (default empty when -help shows none, as for -help itself).
help_flags() {
	awk '
	/^  -[A-Za-z0-9]/ {
		name = substr($1, 2)
		arity = NF > 1 ? "value" : "none"
		def = ""
		if ((getline line) > 0 && index(line, "(default: ")) {
			def = line
			sub(/.*\(default: /, "", def)
			sub(/\)$/, "", def)
		}
		printf "%s\t%s\t%s\n", name, arity, def
	}' "$1"
}

# The flag table of the page's OPTIONS section, in the same form but with
# the entry's text as the third field; malformed entries as "!message".
man_flags() {
	awk '
	function unescape(s) {
		gsub(/\\-/, "-", s)
		return s
	}
	function flush() {
		if (cur != "")
			printf "%s\t%s\t%s\n", cur, arity, body
		cur = ""
		body = ""
	}
	/^\.SH/ {
		flush()
		h = $0
		sub(/^\.SH[ \t]+/, "", h)
		gsub(/"/, "", h)
		inopt = h == "OPTIONS"
		next
	}
	!inopt { next }
	/^\.(TP|SS)([ \t]|$)/ {
		flush()
		tag = $1 == ".TP"
		next
	}
	tag {
		tag = 0
		if (($1 != ".B" && $1 != ".BI") || substr($2, 1, 2) != "\\-") {
			printf "!line %d: an OPTIONS entry that is not .B \\-flag or .BI \\-flag \" ARG\": %s\n", NR, $0
			next
		}
		if ($2 !~ /^\\-[A-Za-z0-9]+(\\-[A-Za-z0-9]+)*$/) {
			printf "!line %d: write the flag as .B \\-name with every hyphen escaped as \\-: %s\n", NR, $0
			next
		}
		if (($1 == ".B" && NF != 2) || ($1 == ".BI" && NF < 3)) {
			printf "!line %d: use .B \\-flag for a flag without a value, .BI \\-flag \" ARG\" for one with a value: %s\n", NR, $0
			next
		}
		cur = substr(unescape($2), 2)
		arity = $1 == ".BI" ? "value" : "none"
		next
	}
	cur != "" { body = body " " $0 }
	END { flush() }' "$1"
}

# roff for text as -help prints it: hyphens and backslashes escaped.
roff_escape() {
	printf '%s' "$1" | sed -e 's/\\/\\e/g' -e 's/-/\\-/g'
}

for prog in $programs; do
	page=
	for s in 1 8; do
		[ -f "$src/docs/$prog.$s" ] && page=docs/$prog.$s sec=$s
	done
	if [ -z "$page" ]; then
		fail "$prog: no man page (docs/$prog.1 or docs/$prog.8)"
		continue
	fi
	file=$src/$page
	if [ -n "${CASK_MANS+set}" ]; then
		case " $CASK_MANS " in
		*" $page "*) ;;
		*) fail "$prog: $page is not in dist_man_MANS, so make install leaves it out" ;;
		esac
	fi

	# .TH names the program and the section of the file name.
	th=$(awk '$1 == ".TH" { gsub(/"/, ""); print $2, $3; exit }' "$file")
	want=$(printf '%s %s' "$prog" "$sec" | tr '[:lower:]' '[:upper:]')
	[ "$(printf '%s' "$th" | tr '[:lower:]' '[:upper:]')" = "$want" ] ||
		fail "$prog: $page: .TH says '$th', want '$want' (the file's name and section)"
	name=$(awk '/^\.SH/ { n = $0 ~ /^\.SH "?NAME"?$/; next } n { print; exit }' "$file")
	case $name in
	"$prog \\- "*) ;;
	*) fail "$prog: $page: NAME must start '$prog \\- ', it says: $name" ;;
	esac
	sections="NAME|SYNOPSIS|DESCRIPTION|OPTIONS|FILES|EXIT STATUS|SECURITY|EXAMPLES|SEE ALSO"
	[ "$sec" = 8 ] && sections="$sections|HTTP ENDPOINTS|SIGNALS"
	IFS='|'
	for want in $sections; do
		grep -Eq "^\\.SH \"?$want\"?\$" "$file" ||
			fail "$prog: $page: no section .SH $want"
	done
	unset IFS

	# The flags, both ways.
	if [ ! -x "$bin/$prog" ]; then
		fail "$prog: $bin/$prog is not built"
		continue
	fi
	if ! "$bin/$prog" -help >"$tmp/help" 2>&1; then
		fail "$prog: '$prog -help' failed: $(head -1 "$tmp/help")"
		continue
	fi
	help_flags "$tmp/help" >"$tmp/h"
	man_flags "$file" >"$tmp/m"
	if [ ! -s "$tmp/h" ]; then
		fail "$prog: found no flags in '$prog -help' (has its format changed?)"
		continue
	fi
	grep '^!' "$tmp/m" | while IFS= read -r line; do
		printf 'check-man: %s: %s: %s\n' "$prog" "$page" "${line#!}" >&2
	done
	grep -q '^!' "$tmp/m" && fails=$((fails + 1))
	grep -v '^!' "$tmp/m" | cut -f1 | sort | uniq -d | while read -r f; do
		printf 'check-man: %s: %s: -%s is documented twice in OPTIONS\n' "$prog" "$page" "$f" >&2
	done
	[ -z "$(grep -v '^!' "$tmp/m" | cut -f1 | sort | uniq -d)" ] ||
		fails=$((fails + 1))
	while IFS="$(printf '\t')" read -r flag arity def; do
		rf=$(roff_escape "-$flag")
		entry=$(awk -F '\t' -v f="$flag" '$1 == f { print; exit }' "$tmp/m")
		if [ -z "$entry" ]; then
			fail "$prog: -$flag is printed by '$prog -help' but not documented in $page (OPTIONS: .TP, then .B or .BI $rf)"
			continue
		fi
		marity=$(printf '%s' "$entry" | cut -f2)
		if [ "$marity" != "$arity" ]; then
			if [ "$arity" = value ]; then
				fail "$prog: -$flag takes a value in '$prog -help' but $page shows none (write .BI $rf \" ARG\")"
			else
				fail "$prog: -$flag takes no value in '$prog -help' but $page shows one (write .B $rf)"
			fi
		fi
		if [ -n "$def" ]; then
			want="Default: \\fB$(roff_escape "$def")\\fR"
			case $(printf '%s' "$entry" | cut -f3-) in
			*"$want"*) ;;
			*) fail "$prog: -$flag: '$prog -help' shows default '$def', but its entry in $page lacks '$want'" ;;
			esac
		fi
	done <"$tmp/h"
	cut -f1 "$tmp/h" >"$tmp/hn"
	grep -v '^!' "$tmp/m" | cut -f1 | while read -r flag; do
		grep -qxF -- "$flag" "$tmp/hn" ||
			echo "$flag"
	done >"$tmp/extra"
	while read -r flag; do
		fail "$prog: -$flag is documented in $page but '$prog -help' does not print it"
	done <"$tmp/extra"

	# Formatting: not one warning.
	groff -ww -man -Tutf8 "$file" >/dev/null 2>"$tmp/groff"
	if [ -s "$tmp/groff" ]; then
		fail "$prog: groff -ww -man -Tutf8 $page warns:"
		sed 's/^/    /' "$tmp/groff" >&2
	fi
done

if [ "$fails" -ne 0 ]; then
	echo "check-man: $fails problem(s); fix the page in docs/ or the flag" >&2
	exit 1
fi
echo "check-man: $(echo "$programs" | wc -w | tr -d " ") man pages match their -help"
exit 0
