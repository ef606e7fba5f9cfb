#!/usr/bin/env bash
# Bounded fuzzing of every Fuzz target, called by .ci/run (step 5).
#
# Targets are discovered, not listed: every `func FuzzXxx(f *testing.F)` in a
# _test.go file of a package matched by the patterns given as arguments. A new
# target is fuzzed without editing any CI file. Each runs from its committed
# corpus (testdata/fuzz/FuzzXxx) for an equal share of PALYRA_CI_FUZZTIME
# (seconds, total; default 360) as
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime Ns ./pkg
# A crash fails the step; go test writes the input to
# pkg/testdata/fuzz/FuzzXxx/<hash>, which must be committed together with a fix.
#
# Environment: PALYRA_CI_FUZZTIME (total seconds), PALYRA_CI_FUZZ_MIN_TARGETS
# (default 12 for ./..., else 1: fewer targets found means discovery broke).
set -euo pipefail

TOTAL=${PALYRA_CI_FUZZTIME:-360}
[[ $# -gt 0 ]] || set -- ./...
# The floor of 12 applies to a whole-repo run; a narrowed PALYRA_CI_PKGS needs 1.
min_default=1
[[ "$*" == ./... ]] && min_default=12
MIN_TARGETS=${PALYRA_CI_FUZZ_MIN_TARGETS:-$min_default}

# "importpath dir" of every package, then its _test.go files' Fuzz functions.
targets=()
while read -r ipath dir; do
	[[ -n $ipath ]] || continue
	while read -r name; do
		targets+=("$ipath $dir $name")
	done < <(find "$dir" -maxdepth 1 -type f -name '*_test.go' -print0 |
		xargs -0 -r sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' | sort -u)
done < <(go list -e -f '{{.ImportPath}} {{.Dir}}' "$@")

n=${#targets[@]}
echo "fuzz targets found: $n"
for t in "${targets[@]}"; do
	read -r ipath _ name <<<"$t"
	printf '  %s.%s\n' "$ipath" "$name"
done
if ((n < MIN_TARGETS)); then
	echo "error: expected at least $MIN_TARGETS fuzz targets, found $n (discovery broken or targets deleted?)" >&2
	exit 1
fi

per=$((TOTAL / n))
((per >= 1)) || per=1
echo "budget: ${TOTAL}s total, ${per}s per target"

LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
	read -r ipath dir name <<<"$t"
	out="$LOG/$name.$RANDOM.log"
	start=$SECONDS
	rc=0
	(cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "${per}s" .) >"$out" 2>&1 || rc=$?
	took=$((SECONDS - start))
	# last progress line: "fuzz: elapsed: 21s, execs: 123456 (5873/sec), new interesting: ..."
	last=$(grep -E '^fuzz: elapsed: [0-9]+s, execs: [0-9]+ ' "$out" | tail -n 1 || true)
	execs=$(sed -n 's/.*execs: \([0-9]*\) .*/\1/p' <<<"$last")
	elapsed=$(sed -n 's/^fuzz: elapsed: \([0-9]*\)s,.*/\1/p' <<<"$last")
	avg="?"
	if [[ -n $execs && -n $elapsed && $elapsed -gt 0 ]]; then
		avg=$((execs / elapsed))
	fi
	# The average over the run: go test's per-line "(R/sec)" covers only the
	# last interval, and its final line often shows 0/sec.
	line=$(printf '%-45s %-24s execs %10s in %3ss = %7s/s  (%ds wall with build)' \
		"${ipath#github.com/palyra/palyra/}" "$name" "${execs:-?}" "${elapsed:-?}" "$avg" "$took")
	if [[ $rc -ne 0 ]]; then
		failed=1
		line="FAIL $line"
		echo "---- $ipath $name failed (exit $rc):"
		cat "$out"
		crasher=$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$out" | head -n 1)
		if [[ -n $crasher ]]; then
			echo "NEW CRASHER: ${dir#"$PWD"/}/$crasher"
			echo "  reproduce: go test -run '^${name}\$/$(basename "$crasher")\$' ./${dir#"$PWD"/}"
			echo "  copy that file into your checkout (in CI it is in the clone CI ran in), fix the bug, and"
			echo "  commit the file with the fix: plain go test replays it from then on as a regression test."
		fi
		echo "----"
	elif [[ -z $last ]]; then
		failed=1
		line="FAIL (no fuzzing progress line) $line"
		cat "$out"
	else
		line="ok   $line"
	fi
	summary+=("$line")
	echo "$line"
done

echo
echo "fuzz summary (executions per second per target):"
printf '%s\n' "${summary[@]}"
if ((failed)); then
	echo "error: fuzzing failed (see above)" >&2
	exit 1
fi
echo "$n passed, 0 failed"
