#!/usr/bin/env bash
# The systemd files as systemd itself reads them: `systemd-analyze verify`
# on hearthd.service and hearthd.socket (on a copy naming the built hearthd,
# since verify insists that ExecStart= binaries exist), the sandbox's
# exposure score (`systemd-analyze security --offline`, goal <= 2.5), and the
# sysusers.d file applied to an empty root.
# usage: systemd_units_test.sh SOURCE_DIR HEARTHD WORK_DIR
set -euo pipefail
src=$1 hearthd=$2 work=$3
if ! command -v systemd-analyze >/dev/null || ! command -v systemd-sysusers >/dev/null; then
  echo "SKIP: systemd-analyze/systemd-sysusers not installed (apt-get install systemd)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work/units" "$work/root/etc"
fail=0
sed "s|/usr/sbin/hearthd|$hearthd|g" "$src/systemd/hearthd.service" >"$work/units/hearthd.service"
cp "$src/systemd/hearthd.socket" "$work/units/"

echo "== systemd-analyze verify"
(cd "$work/units" && systemd-analyze verify ./hearthd.service ./hearthd.socket) >"$work/verify.log" 2>&1 || fail=1
cat "$work/verify.log"
# Warnings do not change verify's exit code: any line about our units fails.
if grep -q 'hearthd\.' "$work/verify.log"; then fail=1; fi

echo "== systemd-analyze security --offline"
(cd "$work/units" && systemd-analyze security --offline=true --threshold=25 ./hearthd.service) >"$work/security.log" 2>&1 || {
  echo "exposure above 2.5 (or analysis failed):"
  fail=1
}
grep -E '^✗' "$work/security.log" || true
grep 'Overall exposure level' "$work/security.log" || { cat "$work/security.log"; fail=1; }

echo "== systemd-sysusers"
systemd-sysusers --root="$work/root" "$src/systemd/hearth.sysusers" || fail=1
grep -q '^hearth:x:[0-9]*:[0-9]*:[^:]*:/var/lib/hearth:/usr/sbin/nologin$' "$work/root/etc/passwd" || { echo "no hearth system user"; fail=1; }
for g in hearth hearth-admin render video; do
  grep -q "^$g:" "$work/root/etc/group" || { echo "no group $g"; fail=1; }
done
grep -qE '^render:.*hearth' "$work/root/etc/group" || { echo "hearth is not in group render (GPU nodes)"; fail=1; }
grep -qE "^hearth-admin:.*hearth" "$work/root/etc/group" || { echo "hearth is not in group hearth-admin (admin socket)"; fail=1; }

if ((fail)); then echo "FAILED"; exit 1; fi
echo "OK"
