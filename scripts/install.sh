#!/bin/sh
# kiln installer (POSIX sh). Downloads the release binary for this machine, checks it against the
# release's SHA256SUMS and installs it as `kiln`. Nothing is installed unless the checksum matches.
#
#   curl -fsSL https://github.com/kiln-build/kiln/releases/latest/download/install.sh | sh
#
# Environment:
#   KILN_BASE_URL     where kiln-<os>-<arch>[-musl] and SHA256SUMS live
#                     (default https://github.com/kiln-build/kiln/releases/latest/download)
#   KILN_INSTALL_DIR  target directory (default /usr/local/bin as root, else ~/.local/bin)
#   KILN_TARGET       skip detection, e.g. linux-arm64-musl
set -eu

BASE_URL=${KILN_BASE_URL:-https://github.com/kiln-build/kiln/releases/latest/download}
BASE_URL=${BASE_URL%/}

die() { echo "kiln-install: $*" >&2; exit 1; }

detect_target() {
  os=$(uname -s)
  [ "$os" = Linux ] || die "unsupported OS $os: kiln runs on Linux only"
  case $(uname -m) in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "unsupported architecture $(uname -m): kiln is built for x86_64 and aarch64" ;;
  esac
  libc=""
  # glibc answers getconf GNU_LIBC_VERSION (a glibc host may still have /lib/ld-musl-* from a
  # musl package); otherwise musl if ldd (musl's ldd is its loader) says so or its loader exists.
  if command -v getconf >/dev/null 2>&1 && getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
    libc=""
  elif { command -v ldd >/dev/null 2>&1 && ldd --version 2>&1 | grep -qi musl; } || ls /lib/ld-musl-* >/dev/null 2>&1; then
    libc=-musl
  fi
  echo "linux-$arch$libc"
}

fetch() { # url file
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is installed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else
    die "no sha256sum, shasum or openssl to verify the download"
  fi
}

target=${KILN_TARGET:-$(detect_target)}
asset="kiln-$target"

if [ -n "${KILN_INSTALL_DIR:-}" ]; then
  dir=$KILN_INSTALL_DIR
elif [ "$(id -u)" -eq 0 ]; then
  dir=/usr/local/bin
else
  dir=${HOME:?HOME is not set}/.local/bin
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t kiln-install)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "kiln-install: downloading $asset from $BASE_URL" >&2
fetch "$BASE_URL/SHA256SUMS" "$tmp/SHA256SUMS" || die "cannot download $BASE_URL/SHA256SUMS"
fetch "$BASE_URL/$asset" "$tmp/$asset" || die "cannot download $BASE_URL/$asset"

# Exact name match in field 2 (sha256sum writes "HASH  NAME", or "HASH *NAME" in binary mode).
want=$(awk -v n="$asset" '$2 == n || $2 == "*" n { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$want" ] || die "SHA256SUMS has no entry for $asset: refusing to install an unverified binary"
got=$(sha256_of "$tmp/$asset")
[ "$got" = "$want" ] || die "checksum mismatch for $asset: expected $want, got $got: nothing installed"

mkdir -p "$dir"
chmod 0755 "$tmp/$asset"
# Copy next to the target, then rename: an existing kiln is replaced atomically, never half-written.
cp "$tmp/$asset" "$dir/.kiln.new.$$"
mv -f "$dir/.kiln.new.$$" "$dir/kiln"
echo "kiln-install: installed $dir/kiln ($("$dir/kiln" --version 2>/dev/null || echo "$target"))" >&2
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) echo "kiln-install: note: $dir is not on PATH" >&2 ;;
esac
