#!/usr/bin/env bash
# The Debian package end to end, in a clean Debian 12 root (mmdebstrap,
# minbase + systemd, cached in WORK_DIR) entered through a private mount and
# network namespace, so the machine itself is untouched and no network is
# reachable inside:
#   1. cpack builds the .deb (Depends from dpkg-shlibdeps, conffile, files);
#   2. make-offline-bundle.sh bundles it with its dependency closure;
#   3. the bundle's install.sh installs it with the network unavailable;
#      every file in place, the service user, the unit enabled,
#      `hearthd --check-config` passes on the shipped config, and hearthd run
#      as the service user serves (plugin found in /usr/lib/hearth/plugins);
#   4. booted with systemd-nspawn, the installed unit runs under real
#      systemd 252: start (READY), sandbox exposure, reload, watchdog restart
#      of a frozen daemon, clean stop (package_systemd_selftest.sh);
#   5. reinstalling the same .deb, then a newer version's bundle whose
#      default config changed, keeps the admin's config, keys and model store;
#   6. remove keeps config and state; purge removes them and the user.
# usage: package_install_test.sh SOURCE_DIR BUILD_DIR WORK_DIR
# Needs root, cpack, dpkg-dev, mmdebstrap, systemd-container (installer/install-build-deps.sh)
# and, for the first run, the Debian mirror; skips (77) where they are absent.
set -euo pipefail

if [[ ${1:-} == --inside ]]; then
  inside=1
else
  inside=0
  src=$(cd "$1" && pwd) build=$(cd "$2" && pwd) work=$3
fi

fail=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok - $what"; else echo "FAIL - $what"; fail=$((fail + 1)); fi
}

# ---------------------------------------------------------------- inside ----
# Runs in the private namespaces: $root is a fresh copy of the base root.
if ((inside)); then
  root=$2 deb=$3 bundle1=$4 bundle2=$5 selftest=$6
  in_root() { chroot "$root" "$@"; }
  mount -t proc proc "$root/proc"
  mount -t devpts -o newinstance devpts "$root/dev/pts" 2>/dev/null || true  # apt logs through a pty
  ip link set lo up 2>/dev/null || true
  check "no network inside the test namespace" test -z "$(ip -o link 2>/dev/null | grep -v ': lo:' || true)"

  echo "== offline install (bundle $(basename "$bundle1"))"
  cp "$bundle1" "$deb" "$root/tmp/"
  tar -C "$root/tmp" -xzf "$root/tmp/$(basename "$bundle1")"
  dir1=/tmp/$(basename "$bundle1" .tar.gz)
  # A bundle damaged on its way (one flipped byte) is refused before anything changes.
  cp -a "$root$dir1" "$root$dir1-damaged"
  victim=$(ls "$root$dir1-damaged"/debs/libboost-json*.deb)
  printf 'X' | dd of="$victim" bs=1 seek=2000 conv=notrunc status=none
  damaged_out=$(in_root "$dir1-damaged/install.sh" 2>&1) && damaged_rc=0 || damaged_rc=$?
  check "a damaged bundle is refused (exit 1, says so)" test "$damaged_rc" = 1 -a -n "$(grep -F 'bundle is damaged' <<<"$damaged_out")"
  check "a damaged bundle installs nothing" bash -c "! chroot '$root' dpkg-query -W hearth libboost-json1.81.0 >/dev/null 2>&1"
  rm -rf "$root$dir1-damaged"
  check "install.sh succeeds with no network" in_root "$dir1/install.sh"
  check "libboost-json came from the bundle" in_root dpkg-query -W libboost-json1.81.0
  for f in /usr/sbin/hearthd /usr/bin/hearthctl /usr/lib/hearth/plugins/libhearth_backend_cpu.so \
           /lib/systemd/system/hearthd.service /lib/systemd/system/hearthd.socket \
           /usr/lib/sysusers.d/hearth.conf /etc/hearth/hearth.toml /usr/share/doc/hearth/README.md; do
    check "$f installed" test -s "$root$f"
  done
  check "hearth.toml is a conffile" bash -c "chroot '$root' dpkg-query -W -f='\${Conffiles}' hearth | grep -q /etc/hearth/hearth.toml"
  check "service user hearth exists" in_root getent passwd hearth
  check "admin group hearth-admin exists" in_root getent group hearth-admin
  check "/var/lib/hearth belongs to hearth, mode 750" test "$(in_root stat -c '%U %a' /var/lib/hearth)" = "hearth 750"
  check "hearth may hand the admin socket to hearth-admin" bash -c "chroot '$root' id -nG hearth | grep -qw hearth-admin"
  check "hearthd.service enabled (not started)" test -L "$root/etc/systemd/system/multi-user.target.wants/hearthd.service"
  check "hearthd --check-config passes on the shipped config" in_root /usr/sbin/hearthd --check-config
  check "hearthd --version" in_root /usr/sbin/hearthd --version
  check "ExecReload's /bin/kill is there" test -x "$root/bin/kill"

  echo "== hearthd as the service user, shipped config"
  install -d -o "$(in_root id -u hearth)" -g "$(in_root id -g hearth)" "$root/run/hearth"  # RuntimeDirectory=
  chroot --userspec=hearth:hearth "$root" /usr/sbin/hearthd >"$root/tmp/hearthd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do
    grep -q 'ready: serving' "$root/tmp/hearthd.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  check "hearthd serves the demo model through /usr/lib/hearth/plugins" grep -q 'ready: serving' "$root/tmp/hearthd.log"
  kill -TERM "$pid" 2>/dev/null || true
  rc=0
  wait "$pid" || rc=$?
  check "hearthd exits 0 on SIGTERM" test "$rc" = 0
  if ((fail)); then sed 's/^/  hearthd: /' "$root/tmp/hearthd.log"; fi
  check "API keys file created, owned by hearth" test "$(in_root stat -c %U /var/lib/hearth/api-keys 2>/dev/null)" = hearth
  check "the admin socket went to group hearth-admin" bash -c "! grep -q 'cannot give the admin socket' '$root/tmp/hearthd.log'"

  echo "== the installed unit under real systemd (systemd-nspawn boots the root)"
  if command -v systemd-nspawn >/dev/null; then
    install -m 0755 "$selftest" "$root/usr/local/sbin/hearth-selftest"
    printf '[Unit]\nAfter=multi-user.target\n[Service]\nType=oneshot\nExecStart=/usr/local/sbin/hearth-selftest\n' \
      >"$root/etc/systemd/system/hearth-selftest.service"
    ln -s /etc/systemd/system/hearth-selftest.service "$root/etc/systemd/system/multi-user.target.wants/"
    umount "$root/dev/pts" 2>/dev/null || true
    umount "$root/proc"
    # No machined or bus on the host: no registration, no scope unit.
    timeout 240 systemd-nspawn -q -D "$root" -b --private-network --register=no --keep-unit \
      --console=read-only -M hearth-pkgtest >"$root.nspawn.log" 2>&1 || true
    mount -t proc proc "$root/proc"
    rm -f "$root/etc/systemd/system/hearth-selftest.service" "$root/etc/systemd/system/multi-user.target.wants/hearth-selftest.service"
    if [[ -f $root/root/selftest.result ]]; then
      while read -r line; do
        echo "$line"
        [[ $line == FAIL* ]] && fail=$((fail + 1))
      done <"$root/root/selftest.result"
    fi
    check "the in-container checks ran to the end" grep -qx done "$root/root/selftest.result"
    if ((fail)); then
      tail -40 "$root.nspawn.log"
      sed 's/^/  selftest: /' "$root/root/selftest.log" | tail -80
    fi
  else
    echo "SKIP - systemd-nspawn not installed (systemd-container): the unit was not run under real systemd"
  fi

  echo "== upgrades keep config, keys and the model store"
  echo "# site change: kept across upgrades" >>"$root/etc/hearth/hearth.toml"
  mkdir -p "$root/var/lib/hearth/store" && echo model >"$root/var/lib/hearth/store/site-model"
  keys_sum=$(sha256sum <"$root/var/lib/hearth/api-keys")
  check "reinstalling the same .deb with dpkg" in_root dpkg -i "/tmp/$(basename "$deb")"
  check "config change kept (reinstall)" grep -q 'site change' "$root/etc/hearth/hearth.toml"
  cp "$bundle2" "$root/tmp/" && tar -C "$root/tmp" -xzf "$root/tmp/$(basename "$bundle2")"
  dir2=/tmp/$(basename "$bundle2" .tar.gz)
  check "newer version's bundle upgrades offline" in_root "$dir2/install.sh"
  check "upgraded to the newer version" bash -c "chroot '$root' dpkg-query -W -f='\${Version}' hearth | grep -q upgrade"
  check "config change kept (upgrade)" grep -q 'site change' "$root/etc/hearth/hearth.toml"
  check "new default config beside it (.dpkg-dist)" grep -q 'upgrade test' "$root/etc/hearth/hearth.toml.dpkg-dist"
  check "API keys kept" test "$(sha256sum <"$root/var/lib/hearth/api-keys")" = "$keys_sum"
  check "model store kept" test -s "$root/var/lib/hearth/store/site-model"
  check "still passes --check-config" in_root /usr/sbin/hearthd --check-config

  echo "== remove, then purge"
  check "dpkg --remove" in_root dpkg --remove hearth
  check "binaries gone" test ! -e "$root/usr/sbin/hearthd" -a ! -e "$root/usr/lib/hearth/plugins/libhearth_backend_cpu.so"
  check "remove keeps the config" test -f "$root/etc/hearth/hearth.toml"
  check "remove keeps the model store" test -s "$root/var/lib/hearth/store/site-model"
  check "dpkg --purge" in_root dpkg --purge hearth
  check "purge removes /etc/hearth" test ! -e "$root/etc/hearth"
  check "purge removes /var/lib/hearth" test ! -e "$root/var/lib/hearth"
  check "purge removes the user" bash -c "! chroot '$root' getent passwd hearth"
  check "purge removes the admin group" bash -c "! chroot '$root' getent group hearth-admin"
  check "no hearth file left in dpkg's database" bash -c "! chroot '$root' dpkg-query -W hearth 2>/dev/null | grep -q ."
  exit $((fail > 0))
fi

# --------------------------------------------------------------- outside ----
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg into a chroot, namespaces)"
for tool in cpack dpkg-deb dpkg-scanpackages unshare chroot mmdebstrap apt-get; do
  command -v "$tool" >/dev/null || skip "$tool not installed (installer/install-build-deps.sh installs it)"
done
[[ -f $build/CPackConfig.cmake ]] || skip "$build is not set up for packaging (configure with the default prefix /usr)"
mkdir -p "$work"
rm -rf "$work/pkg" "$work/bundles" "$work/bundles2" "$work/repack" "$work/other" "$work/root"
mkdir -p "$work/pkg" "$work/bundles"

echo "== an installed binary never loads plugins from its build tree"
moved=$(mktemp -d /tmp/hearth-moved.XXXXXX)  # outside the build tree (which holds $work)
trap 'rm -rf "$moved"' EXIT
cp "$build/daemon/ctl/hearthctl" "$moved/hearthctl"
env -u HEARTH_PLUGIN_DIR "$build/daemon/ctl/hearthctl" synth --preset tiny --type q8_0 --out "$moved/tiny.gguf" >/dev/null 2>&1
generate() { env -u HEARTH_PLUGIN_DIR "$1" generate --model "$moved/tiny.gguf" --prompt hi --max-tokens 1 --temperature 0 2>&1; }
generates() { generate "$1" >/dev/null; }
check "hearthctl in the build tree finds the built plugin" generates "$build/daemon/ctl/hearthctl"
if [[ ! -e /usr/lib/hearth/plugins/libhearth_backend_cpu.so ]]; then
  moved_out=$(generate "$moved/hearthctl" || true)
  check "a copy outside the build tree looks only in /usr/lib/hearth/plugins" \
    bash -c '[[ $1 == *"searched /usr/lib/hearth/plugins)"* && $1 != *"$2"* ]]' _ "$moved_out" "$build/plugins"
fi

echo "== cpack"
(cd "$work/pkg" && cpack -G DEB --config "$build/CPackConfig.cmake" >cpack.log 2>&1) || { cat "$work/pkg/cpack.log"; exit 1; }
deb=$(ls "$work"/pkg/hearth_*.deb)
echo "built $(basename "$deb"): $(du -h "$deb" | cut -f1)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 libstdc++6 libssl3 libsystemd0 libboost-json1.81.0 libpcre2-8-0 procps; do
  check "Depends names $lib" grep -q "$lib" <<<"$depends"
done
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/hearthd ./usr/bin/hearthctl ./usr/lib/hearth/plugins/libhearth_backend_cpu.so \
         ./lib/systemd/system/hearthd.service ./usr/lib/sysusers.d/hearth.conf ./etc/hearth/hearth.toml; do
  check "package holds $f" grep -q " $f\$" <<<"$contents"
done
check "hearth.toml is declared a conffile" bash -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/hearth/hearth.toml"

echo "== offline bundles"
bundler="$src/installer/make-offline-bundle.sh"
rc=0; "$bundler" >/dev/null 2>&1 || rc=$?
check "make-offline-bundle.sh without --deb: usage, exit 2" test "$rc" = 2
out=$("$bundler" --deb "$work/no-such.deb" 2>&1) && rc=0 || rc=$?
check "make-offline-bundle.sh names a missing .deb" test "$rc" = 1 -a -n "$(grep -F 'no-such.deb: no such file' <<<"$out")"
mkdir -p "$work/other/DEBIAN" && printf 'Package: other\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n' >"$work/other/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/other" "$work/other.deb" >/dev/null
out=$("$bundler" --deb "$work/other.deb" 2>&1) && rc=0 || rc=$?
check "make-offline-bundle.sh refuses another package" test "$rc" = 1 -a -n "$(grep -F 'is not the hearth package' <<<"$out")"
"$src/installer/make-offline-bundle.sh" --deb "$deb" --out "$work/bundles"
bundle1=$(ls "$work"/bundles/hearth_*-offline.tar.gz)
# A newer version whose default config changed (as a real upgrade's might).
rm -rf "$work/repack" && mkdir -p "$work/repack"
dpkg-deb -R "$deb" "$work/repack/hearth"
version=$(dpkg-deb -f "$deb" Version)
sed -i "s/^Version: .*/Version: ${version}+upgrade1/" "$work/repack/hearth/DEBIAN/control"
echo "# upgrade test: a changed default" >>"$work/repack/hearth/etc/hearth/hearth.toml"
(cd "$work/repack/hearth" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | xargs -0 md5sum >DEBIAN/md5sums)
dpkg-deb --root-owner-group -b "$work/repack/hearth" "$work/repack/" >/dev/null
mkdir -p "$work/bundles2"
"$src/installer/make-offline-bundle.sh" --deb "$(ls "$work"/repack/hearth_*upgrade1*.deb)" --out "$work/bundles2"
bundle2=$(ls "$work"/bundles2/hearth_*-offline.tar.gz)

base="$work/debian12-minbase-systemd.tar"
if [[ ! -f $base ]]; then
  echo "== bootstrapping a minimal Debian 12 root (once; cached as $base)"
  mmdebstrap --variant=minbase --include=systemd --mode=root --format=tar bookworm "$base.part" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -20 "$work/mmdebstrap.log"; echo "FAIL - cannot bootstrap Debian 12 (no mirror reachable?)"; exit 1; }
  mv "$base.part" "$base"
fi
mkdir -p "$work/root"
tar -C "$work/root" -xf "$base"

echo "== inside a private mount + network namespace"
rc=0
unshare --mount --net --fork bash "${BASH_SOURCE[0]}" --inside "$work/root" "$deb" "$bundle1" "$bundle2" \
  "$src/tests/package_systemd_selftest.sh" || rc=$?
rm -rf "$work/root" "$work/root.nspawn.log"
if ((fail || rc)); then echo "FAILED"; exit 1; fi
echo "OK"
