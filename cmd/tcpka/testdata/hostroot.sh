#!/usr/bin/env bash
# Runs a command as `sudo tcpka install` would run on this machine, inside
# `unshare -m --propagation private`: throwaway overlays over /etc and
# /usr/local and tmpfs over /run, /var/tmp and /home, so every write lands
# in SCRATCH (a tmpfs) and the host's /etc, /usr and /run/systemd are never
# written (nor is the host's systemd asked to daemon-reload).
# tcpka's own files on the host, if any, are hidden in the overlay, so
# install starts from nothing.
#
# usage: hostroot.sh SCRATCH OUT -- COMMAND...
#   OUT/stdout, OUT/stderr, OUT/rc   what COMMAND printed and its exit code
#   OUT/execstart   the ExecStart= line of /etc/systemd/system/tcpka.service,
#                   and whether its binary is executable, or "no unit"
#   OUT/files       the files COMMAND wrote below /etc
set -euo pipefail
scratch=$1 out=$2
shift 3
case $scratch in *,* | *:*) echo "hostroot.sh: $scratch: a ',' or ':' would split overlay's options" >&2; exit 2 ;; esac
mount -t tmpfs tcpka-install-test "$scratch"
for d in /etc /usr/local; do
	n=$(printf '%s' "$d" | tr / _)
	mkdir -p "$scratch/upper$n" "$scratch/work$n"
	mount -t overlay tcpka-install-test -o "lowerdir=$d,upperdir=$scratch/upper$n,workdir=$scratch/work$n" "$d"
done
for d in /run /var/tmp /home; do mount -t tmpfs tcpka-install-test "$d"; done
rm -rf /etc/tcpka /etc/sysctl.d/60-tcpka.conf /etc/systemd/system/tcpka.service
mkdir -p /etc/sysctl.d /etc/systemd/system

rc=0
"$@" >"$out/stdout" 2>"$out/stderr" || rc=$?
echo "$rc" >"$out/rc"
if [ -f /etc/systemd/system/tcpka.service ]; then
	line=$(grep '^ExecStart=' /etc/systemd/system/tcpka.service)
	bin=${line#ExecStart=}
	bin=${bin% apply *}
	bin=${bin#\"} bin=${bin%\"}
	if [ -x "$bin" ]; then echo "$line (executable)"; else echo "$line (NOT EXECUTABLE: $bin)"; fi >"$out/execstart"
else
	echo "no unit" >"$out/execstart"
fi
(cd "$scratch/upper_etc" && find . -type f | sed 's|^\.|/etc|' | sort) >"$out/files"
