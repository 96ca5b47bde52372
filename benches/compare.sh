#!/usr/bin/env bash
# Measure hupwatch against tini, dumb-init and catatonit in one run on this
# machine and write the table to BENCHMARKS.md (issues 4 and 13).
#
# Usage: benches/compare.sh [--quick] [--no-build] [--wait-quiet] [--output FILE]
#   --quick       fewer repetitions (under a minute once built); writes
#                 target/benchmarks/BENCHMARKS-quick.md unless --output is given
#   --no-build    measure the hupwatch binaries already built
#   --wait-quiet  first wait (up to 10 minutes) until other processes leave
#                 the CPUs idle
#   --output F    where to write the markdown table
#
# It builds the static musl release (`cargo build --release --target
# x86_64-unknown-linux-musl`) and the tiny build (scripts/build-tiny), and,
# when run as root, installs missing peers and tools with apt-get: tini
# (for tini-static), dumb-init, catatonit, gcc, binutils (size), file and
# util-linux (unshare, taskset). The measuring helper benches/hwbench.c and
# the floor reloader benches/floor.c are compiled with gcc; benches/report.py
# turns the raw samples in target/benchmarks/raw into medians and ratios.
#
# The size target of the tiny build is tini's musl build, so
# benches/tini-musl.sh builds one here from Debian's source package of tini
# (musl-gcc -Os, stripped; it installs musl-tools when missing) for the size
# row only. Without it (no network, say) the harness goes on and says why.
#
# What it measures (every init gets the same command; all numbers are
# medians over repeated runs, with the inits taking turns):
#   1. binary size;  2. `INIT -- true` against `true` alone;
#   3. peak RSS (VmHWM) supervising `sleep`;  4. context switches of the
#   idle init over 5 s;  5. 10,000 orphans reaped as PID 1 of a new PID
#   namespace;  6. signal to the init -> handler in its child (5 and 6 on
#   one CPU and on all);
#   7. hupwatch only: reload signal -> the old generation's stop-signal
#   handler with `-w 0`, and 1,000 reloads with VmRSS, VmHWM and open
#   descriptors of hupwatch at the start and the end; then the same with
#   `--envdir` of 1,000 files, read afresh at every reload;
#   8. the same with `--notify` against the floor reloader (benches/floor.c:
#   fork or vfork, exec, READY=1, SIGTERM to the old child, nothing else), on
#   one CPU and on all;  9. `--watch` with 1 to 40,000 paths: start-up, and
#   one change until the reload is logged;  10. CPU time and wake-ups of
#   hupwatch while a file inside a watched directory is rewritten 100,000
#   times;  11. how many generations can drain at once under the usual soft
#   limit of 1,024 descriptors before a reload fails;
#   12. hupwatch only (--restart, --watchdog): a crash -> the restarted
#   generation serving; a missed watchdog -> the replacement ready and the
#   hung one's SIGABRT; hupwatch's CPU time over a 60 s crash loop.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

quick=0
build=1
wait_quiet=0
output=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--no-build) build=0 ;;
	--wait-quiet) wait_quiet=1 ;;
	--output)
		[ $# -ge 2 ] || { echo "compare.sh: --output needs a file" >&2; exit 2; }
		output=$2
		shift
		;;
	--output=*) output=${1#--output=} ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
		exit 0
		;;
	*)
		echo "compare.sh: unknown argument: $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

target=x86_64-unknown-linux-musl
target_dir=${CARGO_TARGET_DIR:-target}
work=$target_dir/benchmarks
raw=$work/raw
if [ -z "$output" ]; then
	if [ "$quick" = 1 ]; then output=$work/BENCHMARKS-quick.md; else output=BENCHMARKS.md; fi
fi

if [ "$quick" = 1 ]; then
	startup_rounds=300 rest_runs=1 forward_runs=3 reap_runs=3 reload_count=200
	watch_sizes="1 2500 10000" watch_rounds=3 busy_rewrites=20000 drain_max=1100
else
	startup_rounds=3000 rest_runs=3 forward_runs=20 reap_runs=11 reload_count=1000
	watch_sizes="1 2500 10000 20000 40000" watch_rounds=5 busy_rewrites=100000 drain_max=2000
fi
# Measure 8 (restarts and the watchdog).
if [ "$quick" = 1 ]; then
	crash_count=5 hung_count=5 crashloop_secs=10
else
	crash_count=30 hung_count=30 crashloop_secs=60
fi
rest_settle=2 rest_secs=5 forward_settle=1.5 forward_count=300 orphans=10000

say() { printf 'compare: %s\n' "$*" >&2; }

# Each measuring step runs in its own process group (job control on), so a
# failure, ^C or TERM of this script ends the step and every init in it.
set -m
step=
cleanup() {
	if [ -n "$step" ]; then kill -TERM -- "-$step" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run() { # run OUTFILE COMMAND...: append COMMAND's samples to OUTFILE
	local out=$1
	shift
	"$@" >>"$out" 2>>"$log" </dev/null &
	step=$!
	if ! wait "$step"; then
		step=
		say "failed: $* (see $log)"
		tail -n 5 "$log" >&2
		exit 1
	fi
	step=
}

# --- peers and tools -------------------------------------------------------
apt_updated=0
install() { # install PACKAGE: with apt-get, as root only
	if [ "$(id -u)" != 0 ]; then
		say "missing: install the Debian package $1 (or run as root)"
		exit 1
	fi
	if [ "$apt_updated" = 0 ]; then
		say "apt-get update"
		apt-get update -qq >&2
		apt_updated=1
	fi
	say "installing $1"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2
}
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || install "$2"
}
need tini-static tini
need dumb-init dumb-init
need catatonit catatonit
need gcc gcc
need unshare util-linux
need taskset util-linux
need python3 python3
need file file
need size binutils
# hwbench links statically: glibc's libc.a.
[ -e "$(gcc -print-file-name=libc.a)" ] || install libc6-dev
tini=$(command -v tini-static)
dumb=$(command -v dumb-init)
catatonit=$(command -v catatonit)

# --- the binaries under test -----------------------------------------------
hw=$target_dir/$target/release/hupwatch
hw_tiny=$target_dir/tiny/$target/release/hupwatch
if [ "$build" = 1 ]; then
	if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
		rustup target add "$target"
	fi
	say "building the static release"
	cargo build --release --target "$target" >&2
	say "building the tiny build"
	hw_tiny=$(scripts/build-tiny | tail -n 1)
fi
for bin in "$hw" "$hw_tiny"; do
	[ -x "$bin" ] || { say "$bin is missing (drop --no-build)"; exit 1; }
done
hw=$(realpath "$hw")
hw_tiny=$(realpath "$hw_tiny")

mkdir -p "$raw"
rm -f "$raw"/*.txt
bench=$(realpath "$work")/hwbench
gcc -O2 -Wall -static -o "$bench" benches/hwbench.c
floor=$(realpath "$work")/floor
gcc -O2 -Wall -static -o "$floor" benches/floor.c

# tini's musl build, the peer of the tiny build's size target, made here from
# Debian's source package: for the sizes only, and optional.
say "building tini with musl from Debian's source (for the sizes)"
if tini_musl=$(benches/tini-musl.sh "$work" 2>"$work/tini-musl.log" | tail -n 1); then
	say "tini-musl: $(stat -c %s "$tini_musl") bytes"
else
	tini_musl=
	say "tini-musl left out of the sizes: $(tail -n 1 "$work/tini-musl.log" | sed 's/^tini-musl: //') (see $work/tini-musl.log)"
fi

# The inits, each followed by what it needs before the command. tini gets
# -s (subreaper) as hupwatch is one when it is not PID 1; it also stops
# tini's warning about not being PID 1.
inits=(hupwatch hupwatch-tiny tini-static dumb-init catatonit)
prefix() { # prefix NAME: sets pre to the init's words before the command
	case $1 in
	hupwatch) pre=("$hw" --) ;;
	hupwatch-tiny) pre=("$hw_tiny" --) ;;
	tini-static) pre=("$tini" -s --) ;;
	dumb-init) pre=("$dumb" --) ;;
	catatonit) pre=("$catatonit" --) ;;
	tini-musl) pre=("$tini_musl" -s --) ;;
	esac
}
groups() { # groups COMMAND... -> LABEL INIT... COMMAND... :: ...
	local first=1 name
	for name in "${inits[@]}"; do
		[ "$first" = 1 ] || printf '%s\n' '::'
		first=0
		prefix "$name"
		printf '%s\n' "$name" "${pre[@]}" "$@"
	done
}
mapfile -t g_true < <(groups /bin/true)
mapfile -t g_sleep < <(groups /bin/sleep 1000)
mapfile -t g_echo < <(groups "$bench" sigecho)

# --- the measurements ------------------------------------------------------
log=$work/stderr.log
: >"$log"
busy() { # busy: percent of CPU time other processes used over the last second
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 1
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y); total = 0
		for (i = 2; i <= n; i++) total += y[i] - x[i]
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%d", total ? 100 * (total - idle) / total : 0 }'
}
busy_start=$(busy)
if [ "$wait_quiet" = 1 ]; then
	deadline=$(($(date +%s) + 600))
	while [ "$busy_start" -gt 5 ] && [ "$(date +%s)" -lt "$deadline" ]; do
		say "waiting for a quiet machine (CPUs ${busy_start}% busy)"
		busy_start=$(busy)
	done
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$busy_start" -gt 10 ]; then
	say "warning: other processes keep the CPUs ${busy_start}% busy: the numbers will spread more"
fi
start=$(date +%s)

say "1. sizes"
for name in "${inits[@]}" ${tini_musl:+tini-musl}; do
	prefix "$name"
	read -r text data bss _ < <(size "${pre[0]}" | tail -n 1)
	echo "$name bytes $(stat -c %s "${pre[0]}")"
	echo "$name text $text"
	echo "$name data $data"
	echo "$name bss $bss"
	if file -L "${pre[0]}" | grep -q 'dynamically linked'; then
		echo "$name dynamic 1"
	else
		echo "$name dynamic 0"
	fi
done >"$raw/size.txt"

say "2. start-to-exit, $startup_rounds rounds"
run "$raw/startup.txt" "$bench" startup "$startup_rounds" direct /bin/true :: "${g_true[@]}"

say "3+4. idle supervision of sleep, $rest_runs x ${rest_secs}s"
for _ in $(seq "$rest_runs"); do
	run "$raw/rest.txt" "$bench" rest "$rest_settle" "$rest_secs" "${g_sleep[@]}"
done

# The latency measures run twice: with every process on one CPU (what the
# init itself costs) and free on all CPUs (where the kernel's placement of
# the processes adds as much spread as the inits differ).
cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')

say "5. $orphans orphans reaped as PID 1, $reap_runs runs each, on one CPU and on all"
for run in $(seq 0 $((reap_runs - 1))); do
	# The kernel may still be freeing the last run's 10,000 processes when
	# the next one starts: the inits take turns at going first.
	for k in "${!inits[@]}"; do
		name=${inits[$(((k + run) % ${#inits[@]}))]}
		prefix "$name"
		run "$raw/reap1.txt" taskset -c "$cpu" unshare --pid --kill-child --mount-proc \
			"${pre[@]}" "$bench" orphans "$name" "$orphans"
		run "$raw/reap.txt" unshare --pid --kill-child --mount-proc \
			"${pre[@]}" "$bench" orphans "$name" "$orphans"
	done
done

say "6. signal forwarding, $forward_runs x $forward_count signals each, on one CPU and on all"
for _ in $(seq "$forward_runs"); do
	run "$raw/forward1.txt" taskset -c "$cpu" "$bench" forward "$forward_settle" "$forward_count" "${g_echo[@]}"
	run "$raw/forward.txt" "$bench" forward "$forward_settle" "$forward_count" "${g_echo[@]}"
done

say "7. reload cost, $reload_count reloads each"
for name in hupwatch hupwatch-tiny; do
	prefix "$name"
	run "$raw/reload.txt" "$bench" reload "$name" "$reload_count" "$bench" \
		"${pre[0]}" -w 0 -- "$bench" reloadchild
done
envdir=$(realpath "$work")/envdir-1000
rm -rf "$envdir"
mkdir -p "$envdir"
for i in $(seq -w 0 999); do echo "value $i of a thousand" >"$envdir/HUPWATCH_BENCH_$i"; done
say "7. the same with --envdir of 1,000 files"
for name in hupwatch hupwatch-tiny; do
	prefix "$name"
	run "$raw/reload-envdir.txt" "$bench" reload "$name" "$reload_count" "$bench" \
		"${pre[0]}" --envdir "$envdir" -w 0 -- "$bench" reloadchild
done

say "8. reload against the floor reloader, $reload_count reloads each, on one CPU and on all"
reloaders=(
	hupwatch "$hw" --notify -w 0 -- "$bench" notifychild ::
	hupwatch-tiny "$hw_tiny" --notify -w 0 -- "$bench" notifychild ::
	floor-fork "$floor" fork "$bench" notifychild ::
	floor-vfork "$floor" vfork "$bench" notifychild
)
run "$raw/floor1.txt" taskset -c "$cpu" "$bench" reloads 0.5 "$reload_count" "${reloaders[@]}"
run "$raw/floor.txt" "$bench" reloads 0.5 "$reload_count" "${reloaders[@]}"

# 40,000 paths and their directory need that many inotify watches of this
# user, besides what others hold.
watch_max=$(cat /proc/sys/fs/inotify/max_user_watches)
watch_needed=0
for n in $watch_sizes; do watch_needed=$n; done
watch_needed=$((watch_needed + 10000))
watch_raised=
if [ "$watch_max" -lt "$watch_needed" ]; then
	if [ "$(id -u)" = 0 ]; then
		say "raising fs.inotify.max_user_watches from $watch_max to $watch_needed for step 9"
		echo "$watch_needed" >/proc/sys/fs/inotify/max_user_watches
		watch_raised="raised from $watch_max to $watch_needed for this run"
	else
		say "fs.inotify.max_user_watches is $watch_max: the largest --watch sizes may fail"
	fi
fi
say "9. --watch with $watch_sizes paths, $watch_rounds changes each"
watch_dir=$(realpath "$work")/watched
for n in $watch_sizes; do
	for name in hupwatch hupwatch-tiny; do
		prefix "$name"
		run "$raw/watch.txt" "$bench" watch "$name" "$n" "$watch_dir" "$watch_rounds" "$bench" "${pre[0]}"
	done
done
if [ -n "$watch_raised" ]; then echo "$watch_max" >/proc/sys/fs/inotify/max_user_watches; fi

say "10. $busy_rewrites rewrites of a file in a watched directory"
for name in hupwatch hupwatch-tiny; do
	prefix "$name"
	run "$raw/busy.txt" "$bench" busydir "$name" "$busy_rewrites" "$watch_dir" "$bench" "${pre[0]}"
done

say "11. generations draining at once under a soft limit of 1,024 descriptors (up to $drain_max)"
for name in hupwatch hupwatch-tiny; do
	prefix "$name"
	run "$raw/drain.txt" prlimit --nofile=1024: "$bench" drains "$name" "$drain_max" \
		"${pre[0]}" -k --notify -w 0 -- "$bench" drainchild
done

# 12. --restart and --watchdog (issue 12): each in its own function, so that
# it stays apart from the measures above.
measure_restarts() { # measure_restarts NAME
	prefix "$1"
	run "$raw/restart.txt" "$bench" crash "$1" "$crash_count" "$bench" \
		"${pre[0]}" -w 0 --restart always -- "$bench" crashchild
	run "$raw/restart.txt" "$bench" hung "$1" "$hung_count" "$bench" \
		"${pre[0]}" --notify -w 0 --watchdog 0.2 -- "$bench" watchdogchild
	run "$raw/restart.txt" "$bench" crashloop "$1" "$crashloop_secs" "$bench" \
		"${pre[0]}" --restart always -- "$bench" crashnow
}
say "12. restarts: $crash_count crashes, $hung_count hung generations, a ${crashloop_secs}s crash loop each"
for name in hupwatch hupwatch-tiny; do
	measure_restarts "$name"
done

elapsed=$(($(date +%s) - start))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
busy_end=$(busy)

# --- the report ------------------------------------------------------------
version() { "$@" 2>&1 | head -n 1 || true; }
{
	echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "cores $(nproc)"
	echo "memory $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
	echo "kernel $(uname -sr)"
	# shellcheck disable=SC1091 # the machine's own file
	echo "os $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "hupwatch $(version "$hw" --version)"
	echo "rustc $(version rustc --version)"
	echo "nightly $(version rustup run "${HUPWATCH_NIGHTLY:-nightly}" rustc --version)"
	echo "tini-static $(version "$tini" --version) (Debian tini $(dpkg-query -W -f '${Version}' tini 2>/dev/null || echo '?'))"
	echo "dumb-init $(version "$dumb" --version) (Debian dumb-init $(dpkg-query -W -f '${Version}' dumb-init 2>/dev/null || echo '?'))"
	echo "catatonit $(version "$catatonit" --version) (Debian catatonit $(dpkg-query -W -f '${Version}' catatonit 2>/dev/null || echo '?'))"
	echo "inotify fs.inotify.max_user_watches $watch_max${watch_raised:+, $watch_raised}"
	[ -z "$tini_musl" ] || echo "tini-musl $(cat "$work/tini-musl.about")"
	echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
	echo "load CPUs ${busy_start}% busy before, ${busy_end}% after; load average $load_start before, $load_end after"
	echo "mode $([ "$quick" = 1 ] && echo quick || echo full)"
	echo "elapsed ${elapsed}s"
	echo "rest_secs $rest_secs"
	echo "rest_settle $rest_settle"
	echo "forward_settle $forward_settle"
	echo "params startup_rounds=$startup_rounds rest_runs=$rest_runs rest_secs=$rest_secs forward_runs=$forward_runs forward_count=$forward_count reap_runs=$reap_runs orphans=$orphans reload_count=$reload_count watch_sizes=${watch_sizes// /,} watch_rounds=$watch_rounds busy_rewrites=$busy_rewrites drain_max=$drain_max crash_count=$crash_count hung_count=$hung_count crashloop_secs=$crashloop_secs"
} >"$raw/machine.txt"

python3 benches/report.py "$raw" >"$output"
say "wrote $output (measured in ${elapsed}s)"
cat "$output"
