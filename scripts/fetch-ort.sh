#!/usr/bin/env bash
# Provision the pinned ONNX Runtime shared library used by infergate.
#
# onnxruntime_go v1.27.0 targets the ORT 1.24.x C API. We take the official
# Linux x64 build that ships inside the onnxruntime-node npm package (fetched
# with `npm pack`, never installed, no scripts run), verify its SHA-256 and
# install it atomically into the infergate cache:
#
#   ${INFERGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infergate}/onnxruntime/1.24.3/libonnxruntime.so.1
#
# The final path is printed as the last line on stdout.
set -euo pipefail

ORT_VERSION="1.24.3"
NPM_PKG="onnxruntime-node@${ORT_VERSION}"
TAR_MEMBER="package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
WANT_SHA256="92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682"

die() { echo "fetch-ort: error: $*" >&2; exit 1; }
log() { echo "fetch-ort: $*" >&2; }

os="$(uname -s)"
arch="$(uname -m)"
if [[ "$os" != "Linux" || ( "$arch" != "x86_64" && "$arch" != "amd64" ) ]]; then
  echo "fetch-ort: only Linux x64 is supported by this script (got ${os}/${arch})." >&2
  echo "fetch-ort: install ONNX Runtime ${ORT_VERSION} yourself and set ONNXRUNTIME_LIB=/path/to/libonnxruntime or pass --ort-lib." >&2
  exit 2
fi

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{print $1}'
  else
    die "need sha256sum or shasum"
  fi
}

if [[ -n "${INFERGATE_CACHE:-}" ]]; then
  cache_root="${INFERGATE_CACHE}"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
  cache_root="${XDG_CACHE_HOME}/infergate"
else
  [[ -n "${HOME:-}" ]] || die "cannot determine cache dir: set INFERGATE_CACHE, XDG_CACHE_HOME or HOME"
  cache_root="${HOME}/.cache/infergate"
fi
dest_dir="${cache_root}/onnxruntime/${ORT_VERSION}"
dest="${dest_dir}/libonnxruntime.so.1"

# Fast path: already installed and intact.
if [[ -f "$dest" ]]; then
  if [[ "$(sha256_of "$dest")" == "$WANT_SHA256" ]]; then
    log "already present: $dest"
    echo "$dest"
    exit 0
  fi
  log "existing $dest has the wrong SHA-256; deleting it and re-fetching"
  rm -f "$dest"
fi

command -v npm >/dev/null 2>&1 || die "npm is required (used only for 'npm pack', nothing is installed)"
command -v tar >/dev/null 2>&1 || die "tar is required"

mkdir -p "$dest_dir"
work="$(mktemp -d "${TMPDIR:-/tmp}/fetch-ort.XXXXXX")"
tmp_lib=""
cleanup() {
  rm -rf "$work"
  if [[ -n "$tmp_lib" && -e "$tmp_lib" ]]; then rm -f "$tmp_lib"; fi
}
trap cleanup EXIT

log "downloading ${NPM_PKG} with npm pack (no install, no scripts)"
(
  cd "$work"
  npm pack --ignore-scripts --silent "$NPM_PKG" >"$work/pack.out"
) || die "npm pack ${NPM_PKG} failed"
tarball="$work/$(tail -n 1 "$work/pack.out")"
if [[ ! -f "$tarball" ]]; then
  tarball="$(ls "$work"/onnxruntime-node-*.tgz 2>/dev/null | head -n 1 || true)"
fi
[[ -n "$tarball" && -f "$tarball" ]] || die "npm pack produced no tarball"

mkdir -p "$work/x"
tar -xzf "$tarball" -C "$work/x" "$TAR_MEMBER" || die "tarball does not contain $TAR_MEMBER"
src="$work/x/$TAR_MEMBER"

got="$(sha256_of "$src")"
if [[ "$got" != "$WANT_SHA256" ]]; then
  rm -f "$src"
  die "SHA-256 mismatch for $TAR_MEMBER from ${NPM_PKG}: got $got, want $WANT_SHA256 (file deleted)"
fi

# Atomic install: copy to a temp file on the same filesystem, then rename.
tmp_lib="$(mktemp "${dest_dir}/.libonnxruntime.so.1.XXXXXX")"
cp "$src" "$tmp_lib"
chmod 0644 "$tmp_lib"
if [[ "$(sha256_of "$tmp_lib")" != "$WANT_SHA256" ]]; then
  rm -f "$tmp_lib"
  die "SHA-256 mismatch after copy into $dest_dir (file deleted)"
fi
mv -f "$tmp_lib" "$dest"
tmp_lib=""
log "installed ONNX Runtime ${ORT_VERSION}"
echo "$dest"
