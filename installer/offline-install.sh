#!/bin/sh
# install.sh of the offline bundle (made by make-offline-bundle.sh): installs
# or upgrades hearth from the packages beside this script with apt, using
# no network and none of the machine's configured sources. apt adds only the
# dependencies the machine lacks; dpkg keeps a changed /etc/hearth/hearth.toml
# (and never touches /var/lib/hearth) on upgrade.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi
for tool in apt-get dpkg sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install.sh: $tool not found: this is for Debian 12" >&2; exit 1; }
done
# A copy damaged on its way (a bad USB stick) stops here, before anything changes.
if ! (cd "$here" && sha256sum --quiet --strict -c SHA256SUMS); then
  echo "install.sh: the bundle is damaged (checksums above differ); copy it again" >&2
  exit 1
fi
want=$(sed -n 's/^Architecture: //p' "$here/debs/Packages" | grep -v '^all$' | sort -u | head -n 1)
have=$(dpkg --print-architecture)
if [ -n "$want" ] && [ "$want" != "$have" ]; then
  echo "install.sh: this bundle is for $want, this machine is $have" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/sources.d" "$tmp/cache"
echo "deb [trusted=yes] file:$here/debs ./" >"$tmp/sources.list"
# Only the bundle as a source; private lists and cache, so the machine's own
# apt state is left as it was.
set -- -o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts="$tmp/sources.d" \
  -o Dir::State::lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o Dir::Cache::archives="$tmp/archives" \
  -o APT::Get::List-Cleanup=0 -o Acquire::Languages=none -o APT::Sandbox::User=root
apt-get "$@" -q update
DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -q --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install hearth
echo "install.sh: $(dpkg-query -W -f='${Package} ${Version}' hearth) installed."
echo "Next: edit /etc/hearth/hearth.toml, check it with 'hearthd --check-config', then 'systemctl start hearthd'."
