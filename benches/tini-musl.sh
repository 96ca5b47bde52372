#!/usr/bin/env bash
# Build tini with musl from Debian's source package: the peer that the size
# target of issue 4 names ("no larger than tini's musl build"), measured
# instead of quoted. benches/compare.sh runs it for its size row.
#
# Usage: benches/tini-musl.sh OUTDIR
#   Writes OUTDIR/tini-musl and OUTDIR/tini-musl.about (one line: the source
#   version and the commands used) and prints the binary's path as the last
#   line of standard output. On failure the last line of standard error says
#   why, and it exits 1.
#
# The source is Debian bookworm's tini, fetched with `apt-get source` through
# a sources file, package lists and cache of its own in a temporary directory
# (the machine's apt setup is left alone; apt checks the archive's signature
# and the files' checksums). It is built the way upstream's CMakeLists.txt
# builds tini-static (the default build, not MINIMAL: the same warnings,
# definitions, hardening and linker flags), but with musl-gcc instead of
# glibc and -Os instead of -O2, then stripped. tiniConfig.h is generated from
# tiniConfig.h.in with the package's upstream version and an empty git
# suffix, as CMake does outside a git checkout. musl-gcc (musl-tools) is
# installed with apt-get when missing and running as root.
set -euo pipefail

say() { printf 'tini-musl: %s\n' "$*" >&2; }
fail() {
	say "$*"
	exit 1
}

case ${1-} in
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
'') fail "usage: benches/tini-musl.sh OUTDIR" ;;
esac
mkdir -p "$1"
out=$(cd "$1" && pwd)
rm -f "$out/tini-musl" "$out/tini-musl.about"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/apt.log
apt_error() { # the first error apt reported, for the one line saying why
	grep -m1 '^E: ' "$log" | sed 's/^E: *//' || tail -n 1 "$log"
}

if ! command -v musl-gcc >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || fail "musl-gcc is missing: install the Debian package musl-tools (or run as root)"
	say "installing musl-tools"
	apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed: $(apt_error)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >"$log" 2>&1 ||
		fail "cannot install musl-tools: $(apt_error)"
fi

say "fetching the source of Debian bookworm's tini"
cat >"$tmp/tini-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/dl"
apt=(apt-get -qq
	-o Dir::Etc::sourcelist="$tmp/tini-src.sources" -o Dir::Etc::sourceparts=-
	-o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache"
	-o APT::Sandbox::User="$(id -un)")
"${apt[@]}" --error-on=any update >"$log" 2>&1 ||
	fail "cannot fetch the list of Debian's source packages: $(apt_error)"
(cd "$tmp/dl" && "${apt[@]}" source --download-only tini) >"$log" 2>&1 ||
	fail "cannot download tini's source package: $(apt_error)"

dsc=$(find "$tmp/dl" -maxdepth 1 -name 'tini_*.dsc' | head -n 1)
[ -n "$dsc" ] || fail "apt-get source left no tini_*.dsc"
debian_version=$(sed -n 's/^Version: *//p' "$dsc" | head -n 1)
upstream=${debian_version#*:}
upstream=${upstream%-*}
src=$tmp/tini
if command -v dpkg-source >/dev/null 2>&1; then
	dpkg-source -x "$dsc" "$src" >"$log" 2>&1 || fail "dpkg-source -x failed: $(tail -n 1 "$log")"
else
	# Without dpkg-dev: the upstream tarball, and Debian's patches if any.
	mkdir -p "$src"
	tar -xf "$(find "$tmp/dl" -maxdepth 1 -name 'tini_*.orig.tar.*' | head -n 1)" -C "$src" --strip-components=1 ||
		fail "cannot unpack tini's upstream tarball"
	tar -xf "$(find "$tmp/dl" -maxdepth 1 -name 'tini_*.debian.tar.*' | head -n 1)" -C "$src" ||
		fail "cannot unpack tini's Debian tarball"
	if [ -s "$src/debian/patches/series" ]; then
		fail "Debian patches tini; install dpkg-dev (dpkg-source) to apply them"
	fi
fi
if [ ! -f "$src/src/tini.c" ] || [ ! -f "$src/src/tiniConfig.h.in" ]; then
	fail "tini's source has no src/tini.c or src/tiniConfig.h.in"
fi

say "building tini $upstream (Debian $debian_version) with musl"
mkdir -p "$tmp/build"
sed -e "s/@tini_VERSION_MAJOR@\.@tini_VERSION_MINOR@\.@tini_VERSION_PATCH@/$upstream/" \
	-e 's/@tini_VERSION_GIT@//' "$src/src/tiniConfig.h.in" >"$tmp/build/tiniConfig.h"
! grep -q '@' "$tmp/build/tiniConfig.h" || fail "tiniConfig.h.in has placeholders this script does not know"
# Upstream's CMakeLists.txt: CMAKE_C_FLAGS (with -Os for -O2), -D_FORTIFY_SOURCE=2
# (the compiler does not define it), CMAKE_EXE_LINKER_FLAGS and tini-static's
# LINK_FLAGS.
cflags=(-std=gnu99 -Werror -Wextra -Wall -pedantic-errors -Os -fstack-protector
	--param=ssp-buffer-size=4 -Wformat -D_FORTIFY_SOURCE=2)
ldflags=("-Wl,-Bsymbolic-functions" "-Wl,-z,relro" "-Wl,-s" "-Wl,--no-export-dynamic" -static)
cc=(musl-gcc "${cflags[@]}" -I "$tmp/build" -o "$tmp/build/tini-musl" "$src/src/tini.c" "${ldflags[@]}")
"${cc[@]}" 2>"$log" || fail "musl-gcc failed: $(grep -m1 'error' "$log" || head -n 1 "$log")"
strip "$tmp/build/tini-musl"

bin=$tmp/build/tini-musl
kind=$(file -L "$bin")
[[ $kind == *"statically linked"* ]] || fail "the build is not statically linked: $kind"
"$bin" -s -- /bin/true || fail "\`tini-musl -s -- /bin/true\` failed"
[[ $("$bin" --version) == *"$upstream"* ]] || fail "\`tini-musl --version\` does not say $upstream"

musl=$(dpkg-query -W -f '${Version}' musl-dev 2>/dev/null || echo '?')
gcc=$(musl-gcc -dumpfullversion 2>/dev/null || musl-gcc -dumpversion)
cp "$bin" "$out/tini-musl"
# The commands, with the temporary directory's paths shortened.
printf '%s\n' "tini $upstream from Debian's source package tini $debian_version, musl $musl, gcc $gcc: \`${cc[*]//$tmp\//}\`; \`strip tini-musl\`" \
	>"$out/tini-musl.about"
say "built $out/tini-musl, $(stat -c %s "$out/tini-musl") bytes"
echo "$out/tini-musl"
