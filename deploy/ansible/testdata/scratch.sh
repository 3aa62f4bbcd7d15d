#!/usr/bin/env bash
# Runs the Ansible scenario inside `unshare -m -n --propagation private`:
# throwaway overlays over /etc and /usr/sbin and a tmpfs over /run,
# so every write the role makes lands in SCRATCH (a tmpfs), and the network
# namespace is a new one. Usage: scratch.sh SCRATCH OUT -- ansible-playbook ARGS
#   OUT/{check0,run1,run2,check}.txt   the four runs' output
#   OUT/values-{check0,run1,run2,check} the netns's four sysctls after each
#   OUT/files-{check0,before-check,after-check}  the overlays' files, hashed
#   OUT/unit-run1  the installed tcpka.service's ExecStart= line, or "none"
set -euo pipefail
scratch=$1 out=$2
shift 3
mount -t tmpfs tcpka-ansible-test "$scratch"
for d in /etc /usr/sbin; do
	n=$(printf '%s' "$d" | tr / _)
	mkdir -p "$scratch/upper$n" "$scratch/work$n"
	mount -t overlay tcpka-ansible-test -o "lowerdir=$d,upperdir=$scratch/upper$n,workdir=$scratch/work$n" "$d"
done
mount -t tmpfs tcpka-ansible-test /run
mkdir -p "$scratch/home" "$scratch/tmp"
export HOME=$scratch/home TMPDIR=$scratch/tmp ANSIBLE_LOCAL_TEMP=$scratch/tmp ANSIBLE_REMOTE_TEMP=$scratch/tmp
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0

values() { cat /proc/sys/net/ipv4/tcp_keepalive_{time,intvl,probes} /proc/sys/net/ipv4/tcp_retries2 | tr '\n' ' '; }
files() { (cd "$scratch" && find upper_etc upper_usr_sbin -type f -print0 | sort -z | xargs -0 -r sha256sum); }

# --check before anything is installed: nothing may be written.
"$@" --check > "$out/check0.txt" 2>&1 || { echo "check run 0 failed"; cat "$out/check0.txt"; exit 1; }
values > "$out/values-check0"
files > "$out/files-check0"
"$@" > "$out/run1.txt" 2>&1 || { echo "run 1 failed"; cat "$out/run1.txt"; exit 1; }
values > "$out/values-run1"
# What the installed unit runs (none where /etc/systemd/system is missing).
{ grep '^ExecStart=' /etc/systemd/system/tcpka.service 2>/dev/null || echo none; } > "$out/unit-run1"
"$@" > "$out/run2.txt" 2>&1 || { echo "run 2 failed"; cat "$out/run2.txt"; exit 1; }
values > "$out/values-run2"
files > "$out/files-before-check"
# --check --diff in a fresh network namespace (kernel defaults: it drifted).
export OUT=$out
unshare -n bash -c '"$@" --check --diff > "$OUT/check.txt" 2>&1; rc=$?; cat /proc/sys/net/ipv4/tcp_keepalive_{time,intvl,probes} /proc/sys/net/ipv4/tcp_retries2 | tr "\n" " " > "$OUT/values-check"; exit $rc' check "$@" \
	|| { echo "check run failed"; cat "$out/check.txt"; exit 1; }
files > "$out/files-after-check"
