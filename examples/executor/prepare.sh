#!/bin/sh
# Stages the build context for examples/executor/Dockerfile (a FROM scratch image can't run ldd):
#   CONTEXT/kiln/executor                 the compiled kiln, ELF interpreter + RUNPATH moved into /kiln/lib
#   CONTEXT/kiln/lib/*                    exactly the shared libraries `ldd` lists for it
#   CONTEXT/kiln/ssl/certs/ca-certificates.crt, CONTEXT/kiln/.docker/, CONTEXT/etc/nsswitch.conf
#   CONTEXT/kaniko/{executor,warmer,ssl/certs/ca-certificates.crt} symlinks into /kiln, kaniko/.docker/
#   CONTEXT/busybox/ (static busybox and its applets), for Dockerfile.debug
# Why patchelf: in-container mode unpacks the user's base image over "/", which may replace /lib
# (a merged-/usr symlink, another glibc, or musl). Everything kiln needs therefore lives under
# /kiln, which kiln never touches, and the binary looks for its loader and libraries only there.
#
# Usage: examples/executor/prepare.sh CONTEXT_DIR [KILN_BINARY]   (default: compiles one)
set -eu

die() { echo "prepare: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 CONTEXT_DIR [KILN_BINARY]"
ctx=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v patchelf >/dev/null 2>&1 || die "patchelf is not installed: apt-get install patchelf"
command -v ldd >/dev/null 2>&1 || die "ldd is not installed: apt-get install libc-bin"
busybox=$(command -v busybox 2>/dev/null) || die "busybox is not installed: apt-get install busybox-static"
# The debug image has no libraries for it: only a static busybox will do.
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: apt-get install busybox-static"; fi
[ -f /etc/ssl/certs/ca-certificates.crt ] || die "no /etc/ssl/certs/ca-certificates.crt: apt-get install ca-certificates"

if [ $# -ge 2 ]; then
  bin=$2
else
  bin="$ctx.kiln"
  "$root/node_modules/.bin/bun" "$root/scripts/compile.ts" --outfile "$bin" >/dev/null
fi
[ -x "$bin" ] || die "$bin is not an executable"

rm -rf "$ctx"
mkdir -p "$ctx/kiln/lib" "$ctx/kiln/ssl/certs" "$ctx/kiln/.docker" "$ctx/etc" "$ctx/kaniko/ssl/certs" "$ctx/kaniko/.docker" "$ctx/busybox"

# ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" and "/lib64/ld-linux-x86-64.so.2 (0x…)".
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || die "ldd lists no libraries for $bin (a static binary needs none: remove this step)"
interp=""
for lib in $libs; do
  cp -L "$lib" "$ctx/kiln/lib/"
  case $(basename "$lib") in ld-linux* | ld-musl*) interp=/kiln/lib/$(basename "$lib") ;; esac
done
[ -n "$interp" ] || die "ldd named no dynamic loader for $bin"

cp "$bin" "$ctx/kiln/executor"
chmod 0755 "$ctx/kiln/executor"
patchelf --set-interpreter "$interp" --set-rpath /kiln/lib "$ctx/kiln/executor"

cp -L /etc/ssl/certs/ca-certificates.crt "$ctx/kiln/ssl/certs/"
if [ -f /etc/nsswitch.conf ]; then
  cp -L /etc/nsswitch.conf "$ctx/etc/nsswitch.conf"
else
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ctx/etc/nsswitch.conf"
fi
# kaniko's paths: the same binary under kaniko's names (kiln picks its command from the name).
ln -s /kiln/executor "$ctx/kaniko/executor"
ln -s /kiln/executor "$ctx/kaniko/warmer"
ln -s /kiln/ssl/certs/ca-certificates.crt "$ctx/kaniko/ssl/certs/ca-certificates.crt"

# For Dockerfile.debug: busybox with a link per applet. No /bin/sh (kaniko's debug image has one):
# GitLab's runner finds /busybox/sh itself, and a /bin directory would be in the way of a base
# image whose /bin is a symlink (merged /usr) when it is unpacked over "/".
cp "$busybox" "$ctx/busybox/busybox"
chmod 0755 "$ctx/busybox/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ctx/busybox/$applet"
done
[ $# -ge 2 ] || rm -f "$bin"
echo "$ctx"
