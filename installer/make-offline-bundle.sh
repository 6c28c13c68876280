#!/usr/bin/env bash
# Makes the offline bundle for machines with no network: one tarball holding
# the hearth .deb, every Debian package it depends on (the whole dependency
# closure, so it installs on any Debian 12, however minimal), an index of
# them, checksums and install.sh.
#
#   installer/make-offline-bundle.sh --deb build/hearth_0.1.0_amd64.deb [--out DIR]
#     → DIR/hearth_<version>_<arch>-offline.tar.gz   (DIR defaults to the .deb's)
#
# Run it on a Debian 12 machine of the same architecture with network access
# to its Debian mirror (it reads that machine's apt lists: `apt-get update`
# first if they are old). Needs apt-get, dpkg-deb and dpkg-scanpackages
# (dpkg-dev). On the target: tar xf ...; sudo ./hearth_*-offline/install.sh
set -euo pipefail

usage() { echo "usage: $0 --deb FILE.deb [--out DIR]" >&2; exit 2; }
deb="" out=""
while (($#)); do
  case "$1" in
    --deb) (($# >= 2)) || usage; deb=$2; shift 2 ;;
    --out) (($# >= 2)) || usage; out=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
[[ -n $deb ]] || usage
[[ -f $deb ]] || { echo "make-offline-bundle: $deb: no such file" >&2; exit 1; }
for tool in apt-get dpkg-deb dpkg-scanpackages sha256sum tar; do
  command -v "$tool" >/dev/null || { echo "make-offline-bundle: $tool not found (apt-get install dpkg-dev apt)" >&2; exit 1; }
done
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
[[ $(dpkg-deb -f "$deb" Package 2>/dev/null) == hearth ]] || { echo "make-offline-bundle: $deb is not the hearth package" >&2; exit 1; }
out=${out:-$(dirname "$deb")}
mkdir -p "$out"
version=$(dpkg-deb -f "$deb" Version)
arch=$(dpkg-deb -f "$deb" Architecture)
name="hearth_${version}_${arch}-offline"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle="$work/$name"
mkdir -p "$bundle/debs" "$work/archives/partial" "$work/cache"
# The closure is computed against an empty package database, so it is the
# complete set hearth needs on a machine that has nothing: the target's apt
# then installs only what it lacks. This machine's own state is untouched
# (separate status, cache and archive directories, no lock).
: >"$work/status"
echo "make-offline-bundle: resolving the dependencies of hearth $version ($arch)"
if ! apt-get install --download-only --no-install-recommends -y -q \
    -o Dir::State::status="$work/status" -o Dir::Cache="$work/cache" \
    -o Dir::Cache::archives="$work/archives" -o Debug::NoLocking=1 \
    -o APT::Architecture="$arch" "$deb" >"$work/apt.log" 2>&1; then
  cat "$work/apt.log" >&2
  echo "make-offline-bundle: apt could not download hearth's dependencies (network? run apt-get update first)" >&2
  exit 1
fi
cp "$work"/archives/*.deb "$bundle/debs/"
cp "$deb" "$bundle/debs/"
(cd "$bundle/debs" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>"$work/scan.log")
grep -q '^Package: hearth$' "$bundle/debs/Packages" || { cat "$work/scan.log" >&2; echo "make-offline-bundle: indexing failed" >&2; exit 1; }

install -m 0755 "$(dirname "${BASH_SOURCE[0]}")/offline-install.sh" "$bundle/install.sh"
cat >"$bundle/README" <<README
Hearth $version ($arch), offline installation bundle for Debian 12.

  sudo ./install.sh

installs (or upgrades to) hearth $version with apt, from the packages in
debs/ only: no network is used. Packages already installed are kept; only
missing dependencies are added. Configuration (/etc/hearth), API keys and the
model store (/var/lib/hearth) survive upgrades. Then:

  sudoedit /etc/hearth/hearth.toml      # models, listen address, TLS
  sudo hearthd --check-config
  sudo systemctl start hearthd

The bundle holds $(ls "$bundle/debs" | grep -c '\.deb$') packages; SHA256SUMS lists their checksums.
README
(cd "$bundle" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)

tar -C "$work" -czf "$out/$name.tar.gz" "$name"
echo "make-offline-bundle: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1), $(ls "$bundle/debs" | grep -c '\.deb$') packages)"
