#!/usr/bin/env bash
# Speed of one commit against another on the standard workloads (WORKLOADS.md), side by side.
#
# usage: bench/oldnew.sh OLD NEW [W1,W1i,W2,W3,W4]
#        PAIRS=7 bench/oldnew.sh cc58c2d 41541fd W2,W3
#
# It checks out OLD and NEW in temporary detached worktrees, builds each one's benchmark
# binaries once (go test -c, the default build, no tags), then for each workload runs OLD and
# NEW alternately, PAIRS times (default 5), each run a process of its own with GOMAXPROCS=2,
# as bench/compare.py runs unroll. It prints each run's figure and per workload OLD's and NEW's
# min / median / max and the median of the per-pair ratios, oriented so that above 1 means NEW
# is faster (new/old for images/s and tokens/s, old/new for ms). uptime is printed before and
# after. Each pair line gives the 1-minute load when the pair started, marked "loaded" above
# 1.5 (it includes the benchmarks' own two threads, so it is about 2 once runs follow each
# other), and "others", the cores other processes kept busy during the pair on average (all
# CPU time in /proc/stat less the runs' own), marked "disturbed" above 0.3.
#
# The package and benchmark of each workload are read from each commit's bench/compare.py
# (WORKLOADS), so a workload that moved between the two commits is still found. STEPS_W1 etc.
# override the timed steps per run (-test.benchtime Nx); the defaults make a run take about
# 5 to 10 s on a quiet 2-core machine.
set -euo pipefail

if [ $# -lt 2 ]; then
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
OLD=$1 NEW=$2
WORKLOADS=${3:-W1,W1i,W2,W3,W4}
PAIRS=${PAIRS:-5}
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
TMP=$(mktemp -d /tmp/oldnew.XXXXXX)

cleanup() {
	for side in old new; do
		[ -d "$TMP/$side" ] && git -C "$ROOT" worktree remove --force "$TMP/$side" >/dev/null 2>&1 || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# steps per run (-test.benchtime Nx) and the unit of each workload's figure
declare -A STEPS=([W1]=${STEPS_W1:-100} [W1i]=${STEPS_W1i:-80} [W2]=${STEPS_W2:-60} [W3]=${STEPS_W3:-80} [W4]=${STEPS_W4:-150})
declare -A UNIT=([W1]=images/s [W1i]=images/s [W2]=tokens/s [W3]=tokens/s [W4]=ms)

# field WORKLOAD N COMMIT: field N (1 package, 2 benchmark) of the workload in that commit's
# bench/compare.py
field() {
	git -C "$ROOT" show "$3:bench/compare.py" |
		sed -n "s/^ *'$1': ('\([^']*\)', '\([^']*\)'.*/\\$2/p"
}

# build SIDE COMMIT: the benchmark binaries of COMMIT under $TMP/bin-SIDE, one per package
build() {
	local side=$1 commit=$2 w pkg
	git -C "$ROOT" worktree add --detach "$TMP/$side" "$commit" >/dev/null 2>&1
	mkdir -p "$TMP/bin-$side"
	for w in ${WORKLOADS//,/ }; do
		pkg=$(field "$w" 1 "$commit")
		[ -n "$pkg" ] || { echo "$commit: no $w in bench/compare.py" >&2; exit 1; }
		if [ ! -x "$TMP/bin-$side/$w" ]; then
			(cd "$TMP/$side" && go test -c -o "$TMP/bin-$side/$w" "$pkg")
		fi
	done
}

# busy: the CPU time all processes have used since boot, in clock ticks
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# run SIDE COMMIT WORKLOAD: one run; prints the figure, keeps the output in $TMP/last and the
# run's own CPU seconds (user + system) appended to $TMP/own
run() {
	local bench
	bench=$(field "$3" 2 "$2")
	GOMAXPROCS=2 /usr/bin/time -f '%U %S' -a -o "$TMP/own" "$TMP/bin-$1/$3" -test.run '^$' \
		-test.bench "$bench" -test.benchtime "${STEPS[$3]}x" -test.v >"$TMP/last" 2>&1 ||
		{ cat "$TMP/last" >&2; exit 1; }
	awk -v unit="${UNIT[$3]}" '$0 ~ "^Benchmark" { for (i = 2; i <= NF; i++) if ($i == unit) { print $(i-1); exit } }' "$TMP/last"
}

# stats: min median max of the numbers on stdin, one a line
stats() {
	sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.6g %.6g %.6g", v[1], m, v[NR] }'
}

echo "# bench/oldnew.sh $OLD $NEW $WORKLOADS, $PAIRS pairs, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
echo "# old: $(git -C "$ROOT" log -1 --format='%h %ad %s' --date=short "$OLD" | cut -c1-110)"
echo "# new: $(git -C "$ROOT" log -1 --format='%h %ad %s' --date=short "$NEW" | cut -c1-110)"
build old "$OLD"
build new "$NEW"
echo "# before: $(uptime)"

SUMMARY=""
for w in ${WORKLOADS//,/ }; do
	unit=${UNIT[$w]}
	: >"$TMP/old.$w"; : >"$TMP/new.$w"; : >"$TMP/ratio.$w"
	for p in $(seq "$PAIRS"); do
		load=$(cut -d' ' -f1 /proc/loadavg)
		: >"$TMP/own"; b0=$(busy); t0=$(date +%s.%N)
		o=$(run old "$OLD" "$w"); oimpl=$(grep -o 'gemm [^,]*, [0-9]* threads' "$TMP/last" | head -1)
		n=$(run new "$NEW" "$w"); nimpl=$(grep -o 'gemm [^,]*, [0-9]* threads' "$TMP/last" | head -1)
		b1=$(busy); t1=$(date +%s.%N)
		others=$(awk -v b="$((b1 - b0))" -v hz="$(getconf CLK_TCK)" -v t="$t0 $t1" \
			'{ own += $1 + $2 } END { split(t, s, " "); x = (b / hz - own) / (s[2] - s[1]); printf "%.2f", x < 0 ? 0 : x }' "$TMP/own")
		echo "$o" >>"$TMP/old.$w"; echo "$n" >>"$TMP/new.$w"
		if [ "$unit" = ms ]; then r=$(awk -v o="$o" -v n="$n" 'BEGIN { print o / n }')
		else r=$(awk -v o="$o" -v n="$n" 'BEGIN { print n / o }'); fi
		echo "$r" >>"$TMP/ratio.$w"
		flag=$(awk -v l="$load" -v x="$others" 'BEGIN { if (l > 1.5) printf " loaded"; if (x > 0.3) printf " disturbed" }')
		printf '%s pair %d (load %s, others %s%s): old %s, new %s %s, ratio %.3f  [old %s; new %s]\n' \
			"$w" "$p" "$load" "$others" "$flag" "$o" "$n" "$unit" "$r" "$oimpl" "$nimpl"
	done
	SUMMARY+=$(printf '| %s (%s) | %s | %s | %s |' "$w" "$unit" \
		"$(stats <"$TMP/old.$w" | sed 's| | / |g')" "$(stats <"$TMP/new.$w" | sed 's| | / |g')" \
		"$(stats <"$TMP/ratio.$w" | awk '{ printf "%.3f (%.3f-%.3f)", $2, $1, $3 }')")$'\n'
done
echo "# after: $(uptime)"
echo
echo "| workload | old min / median / max | new min / median / max | ratio, median of pairs (min-max); > 1: new faster |"
echo "|---|---|---|---|"
printf '%s' "$SUMMARY"
