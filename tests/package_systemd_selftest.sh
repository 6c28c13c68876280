#!/bin/bash
# Runs inside the clean Debian 12 root booted by systemd-nspawn (see
# package_install_test.sh), as a oneshot unit after multi-user.target: the
# installed hearthd.service under real systemd 252, with its sandbox.
# Writes "ok - ..." / "FAIL - ..." lines to /root/selftest.result, then
# powers the container off.
exec >/root/selftest.log 2>&1
result=/root/selftest.result
: >"$result"
check() {
  local what=$1
  shift
  if "$@"; then echo "ok - $what" >>"$result"; else echo "FAIL - $what" >>"$result"; fi
}
prop() { systemctl show hearthd.service -p "$1" --value; }
set -x

# start returns once hearthd sent READY=1 (Type=notify), or fails.
check "systemctl start hearthd (Type=notify, sandboxed, as user hearth)" systemctl start hearthd.service
check "active (running)" test "$(prop ActiveState)/$(prop SubState)" = active/running
check "STATUS= says what it serves" bash -c '[[ $(systemctl show hearthd.service -p StatusText --value) == "serving 1 models on port 8443" ]]'
check "runs as hearth" test "$(ps -o user= -p "$(prop MainPID)")" = hearth
check "watchdog armed (30 s)" test "$(prop WatchdogUSec)" = 30s
check "admin socket handed to hearth-admin, mode 660" test "$(stat -c '%G %a' /run/hearth/admin.sock)" = "hearth-admin 660"
exposure=$(systemd-analyze security hearthd.service | sed -n 's/.*Overall exposure level for hearthd.service: \([0-9.]*\).*/\1/p')
echo "exposure $exposure" >>"$result"
check "systemd-analyze security exposure <= 2.5 (is $exposure)" awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.5) }'

pid=$(prop MainPID)
check "systemctl reload (RELOADING=1 ... READY=1)" systemctl reload hearthd.service
check "same process after reload" test "$(prop MainPID)" = "$pid"
journalctl -u hearthd.service --no-pager | grep -q 'configuration reloaded\|reloading' && echo "ok - reload logged" >>"$result"

# A hung daemon (frozen: no WATCHDOG=1) is killed by the watchdog and
# restarted (Restart=on-failure). Short intervals for the test only.
mkdir -p /run/systemd/system/hearthd.service.d
printf '[Service]\nWatchdogSec=3s\nTimeoutAbortSec=2s\nRestartSec=1s\n' >/run/systemd/system/hearthd.service.d/test.conf
systemctl daemon-reload
systemctl restart hearthd.service
pid=$(prop MainPID)
sleep 4
check "pings keep a healthy daemon alive past WatchdogSec" test "$(prop MainPID)" = "$pid"
kill -STOP "$pid"
for _ in $(seq 1 60); do
  new=$(prop MainPID)
  [[ $(prop ActiveState) == active && $new != "$pid" && $new != 0 ]] && break
  sleep 0.5
done
check "a frozen daemon is restarted by the watchdog" test "$(prop ActiveState)" = active -a "$(prop MainPID)" != "$pid"
check "systemd recorded the watchdog timeout" bash -c "journalctl -u hearthd.service --no-pager | grep -qi 'watchdog timeout'"
rm -rf /run/systemd/system/hearthd.service.d
systemctl daemon-reload

# Socket activation: systemd holds port 8443; the first connection starts
# hearthd, which serves on the inherited socket (binding 8443 itself would
# fail while systemd holds it).
systemctl stop hearthd.service
check "hearthd.socket starts" systemctl start hearthd.socket
check "the service waits for a connection" test "$(prop ActiveState)" = inactive
(exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null
for _ in $(seq 1 60); do
  [[ $(prop ActiveState) == active ]] && break
  sleep 0.5
done
check "a connection to 8443 starts hearthd on systemd's socket" test "$(prop ActiveState)/$(prop SubState)" = active/running
check "connections are served after activation" bash -c '(exec 3<>/dev/tcp/127.0.0.1/8443)'

check "systemctl stop: clean exit" systemctl stop hearthd.service
systemctl stop hearthd.socket
check "stopped, result success" test "$(prop ActiveState)/$(prop Result)" = inactive/success
journalctl -u hearthd.service --no-pager | tail -60
echo done >>"$result"
systemctl poweroff
