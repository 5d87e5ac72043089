#!/bin/sh
# make deb-test: install the reconfig .deb with dpkg on this machine, use
# it, verify the systemd unit, then remove and purge it, checking at each
# step what the package promises. Runs as root on Debian or Ubuntu (CI);
# it refuses a machine where reconfig is already installed.
#
# The reconfig user stays after a purge (as Debian leaves system users);
# when this test created it, it deletes it at the end, so that a second
# run starts from the same machine.
set -eu

deb=${1:?usage: deb-test.sh PACKAGE.deb}
fail() {
	echo "deb-test: FAIL: $*" >&2
	exit 1
}
step() { echo "deb-test: $*"; }

[ "$(id -u)" = 0 ] || fail "must run as root (dpkg -i)"
[ -f "$deb" ] || fail "no package $deb"
if dpkg-query -W -f '${Status}' reconfig 2>/dev/null | grep -q 'installed'; then
	fail "reconfig is already installed here; this test installs and purges it: dpkg --purge reconfig first"
fi
if ! command -v systemd-analyze >/dev/null; then
	# Debian 12 ships systemd-analyze in the systemd package.
	step "installing systemd for systemd-analyze"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
user_before=$(getent passwd reconfig || true)

step "contents of $deb"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\):/  &/p'
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/reconfig ./usr/share/man/man1/reconfig.1.gz \
	./usr/share/bash-completion/completions/reconfig ./usr/share/zsh/vendor-completions/_reconfig \
	./lib/systemd/system/reconfig.service ./etc/default/reconfig ./etc/reconfig/conf.d/ ./etc/reconfig/templates/; do
	echo "$contents" | grep -q " $f\$" || fail "the package has no $f"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -tf - | grep -q '^\./conffiles$' || fail "the package declares no conffiles"

step "dpkg -i"
dpkg -i "$deb"
out=$(reconfig version) || fail "reconfig version failed"
echo "$out"
echo "$out" | grep -q '^reconfig ' || fail "reconfig version printed no version line"
[ "$(command -v reconfig)" = /usr/bin/reconfig ] || fail "reconfig is not /usr/bin/reconfig"

entry=$(getent passwd reconfig) || fail "the postinst made no reconfig user"
shell=$(echo "$entry" | cut -d: -f7)
uid=$(echo "$entry" | cut -d: -f3)
case "$shell" in */nologin | */false) ;; *) fail "the reconfig user has the shell $shell" ;; esac
[ "$uid" -lt 1000 ] || fail "the reconfig user is no system user (uid $uid)"
getent group reconfig >/dev/null || fail "the postinst made no reconfig group"
step "user: $entry"

[ "$(stat -c %a /etc/default/reconfig)" = 600 ] || fail "/etc/default/reconfig is not 0600"
grep -qx '/etc/default/reconfig' /var/lib/dpkg/info/reconfig.conffiles || fail "/etc/default/reconfig is no conffile"
# The unit's ExecStartPre passes on the empty /etc/reconfig it installs.
reconfig validate || fail "reconfig validate on the installed /etc/reconfig"
man -w reconfig | grep -q /usr/share/man/man1/reconfig.1.gz || fail "man finds no reconfig(1)"
bash -c '. /usr/share/bash-completion/completions/reconfig && complete -p reconfig' | grep -q _reconfig_complete ||
	fail "the bash completion defines no completion for reconfig"

step "systemd-analyze verify"
# It checks the unit's syntax, that ExecStart's binaries exist and that
# the man page in Documentation= is there; a warning (an unknown key) is a
# failure too.
said=$(systemd-analyze verify /lib/systemd/system/reconfig.service 2>&1) || fail "systemd-analyze verify: $said"
[ -z "$said" ] || fail "systemd-analyze verify warned: $said"

step "dpkg -i again (an upgrade: postinst configure with the old version)"
dpkg -i "$deb"
[ "$(getent passwd reconfig)" = "$entry" ] || fail "an upgrade changed the reconfig user"

step "dpkg -r"
# What the operator made stays: a binding; a state file is reconfig's.
echo '{"id": "app"}' >/etc/reconfig/conf.d/app
echo '{}' >/etc/reconfig/state.json
echo 'RECONFIG_WAIT=5s' >>/etc/default/reconfig
dpkg -r reconfig
[ ! -e /usr/bin/reconfig ] || fail "dpkg -r left /usr/bin/reconfig"
[ ! -e /lib/systemd/system/reconfig.service ] || fail "dpkg -r left the unit"
grep -q 'RECONFIG_WAIT=5s' /etc/default/reconfig || fail "dpkg -r removed the edited /etc/default/reconfig"

step "dpkg --purge"
dpkg --purge reconfig
[ ! -e /etc/default/reconfig ] || fail "dpkg --purge left /etc/default/reconfig"
[ ! -e /etc/reconfig/state.json ] || fail "dpkg --purge left the state"
[ -f /etc/reconfig/conf.d/app ] || fail "dpkg --purge removed the operator's binding"
if dpkg-query -W -f '${Status}' reconfig 2>/dev/null | grep -q 'installed'; then
	fail "reconfig is still installed after dpkg --purge"
fi
getent passwd reconfig >/dev/null || fail "dpkg --purge removed the reconfig user"
rm -r /etc/reconfig/conf.d/app
rmdir /etc/reconfig/conf.d /etc/reconfig
if [ -z "$user_before" ]; then
	userdel reconfig
fi
step "ok"
