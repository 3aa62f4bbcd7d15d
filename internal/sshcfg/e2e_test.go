package sshcfg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/testkit"
)

// e2eScript runs in a scratch network and mount namespace (unshare -m -n):
// a real sshd on 127.0.0.1 and a real ssh client, configured with the
// lines Recommend prints. It silences one side at a time with SIGSTOP (the
// kernel still ACKs, so only the SSH layer can notice) and times how long
// the other side takes to close the session. It also lists the sockets'
// kernel timers: TCPKeepAlive yes must give both ends a keepalive timer
// that follows the netns's sysctls.
const e2eScript = `
set -eu
D=$1
mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && chmod 755 /run/sshd
ip link set lo up
# the scratch netns starts at 7200/75/9: set the ssh-like profile here only
echo 60 >/proc/sys/net/ipv4/tcp_keepalive_time
SSHD_BIN=$(command -v sshd || echo /usr/sbin/sshd)
"$SSHD_BIN" -D -e -f "$D/sshd_config" >"$D/sshd.out" 2>"$D/sshd.log" &
SSHD=$!
cleanup() {
	set +e
	kill -CONT $(descendants $SSHD) 2>/dev/null
	kill $SSHD $(jobs -p) 2>/dev/null
	pkill -P $$ 2>/dev/null
}
trap cleanup EXIT
for i in $(seq 50); do ss -ltnH | grep -q 127.0.0.1:2222 && break; sleep 0.1; done
descendants() { for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
now() { date +%s.%N; }

# 1. client side: the server talks until it is stopped.
ssh -F "$D/ssh_config" e2e 'while :; do echo x; sleep 0.1; done' >/dev/null 2>"$D/ssh1.err" &
CL=$!
sleep 1
# The talking side shows timer:(on,...) while a write is unacked, so look a
# few times and keep the most keepalive timers seen at once.
timers=0
for i in $(seq 30); do
	n=$(ss -tnoH state established '( sport = :2222 or dport = :2222 )' | grep -c 'timer:(keepalive' || true)
	[ "$n" -gt "$timers" ] && timers=$n
	[ "$timers" -ge 2 ] && break
	sleep 0.1
done
echo "timers $timers"
kill -STOP $(descendants $SSHD)
t0=$(now)
wait $CL || true
t1=$(now)
echo "client_closed $(echo "$t1 - $t0" | bc)"
kill -CONT $(descendants $SSHD)
for i in $(seq 100); do [ -z "$(descendants $SSHD)" ] && break; sleep 0.1; done

# 2. server side: the client talks until it is stopped.
(while :; do echo x; sleep 0.1; done) | ssh -F "$D/ssh_config" e2e 'cat >/dev/null' 2>"$D/ssh2.err" &
sleep 1
CL=$(pgrep -x ssh)
[ -n "$(descendants $SSHD)" ]
kill -STOP $CL
t0=$(now)
# sshd logs the timeout as it gives up (the session's processes may take
# longer to go away: that is not the SSH layer's detection).
for i in $(seq 400); do grep -q 'Timeout, client not responding' "$D/sshd.log" && break; sleep 0.05; done
t1=$(now)
echo "server_closed $(echo "$t1 - $t0" | bc)"
kill -CONT $CL
`

func TestEndToEndLiveSession(t *testing.T) {
	testkit.Slow(t, "runs a real sshd")
	testkit.NeedRoot(t, "runs sshd in a scratch network namespace")
	for _, prog := range []string{"ssh", "ssh-keygen", "unshare", "ip", "ss", "bc", "pgrep"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s in PATH", prog)
		}
	}
	if _, err := Find("sshd"); err != nil {
		t.Skip("needs openssh-server (sshd): apt-get install openssh-server (.ci/run does in CI)")
	}
	dir := t.TempDir()
	for _, k := range []string{"hostkey", "userkey"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "userkey.pub"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("authorized_keys", string(pub))

	// The recommendation for a 60 s path and an 8 s bound: the same rule
	// as for 4 min and 2 min, scaled down so the test takes seconds.
	r, err := Recommend(60, 8)
	if err != nil {
		t.Fatal(err)
	}
	if r.ClientInterval != 2 || r.ServerInterval != 1 || r.CountMax != 3 {
		t.Fatalf("Recommend(60, 8) = %+v", r)
	}
	write("sshd_config", fmt.Sprintf(`%s
ListenAddress 127.0.0.1:2222
HostKey %s/hostkey
AuthorizedKeysFile %s/authorized_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
`, strings.Join(r.Full(Server), "\n"), dir, dir))
	write("ssh_config", fmt.Sprintf(`Host e2e
    %s
    HostName 127.0.0.1
    Port 2222
    User root
    IdentityFile %s/userkey
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    BatchMode yes
    LogLevel INFO
`, strings.Join(r.Full(Client), "\n    "), dir))
	write("e2e.sh", e2eScript)

	// What tcpka predicts for these configs, read back from the programs.
	cs, err := ReadClient("ssh", filepath.Join(dir, "ssh_config"), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	k := keepalive.Settings{Time: 60, Intvl: 75, Probes: 9}
	cj := Judge(cs, k, 60)
	if cj.First != LayerSSH || cj.SSHDetectMin != 6 || cj.SSHDetect != 8 {
		t.Fatalf("client judgment %+v", cj)
	}
	sj := Judge(Settings{Side: Server, Interval: r.ServerInterval, CountMax: r.CountMax, TCPKeepAlive: true}, k, 60)
	if sj.First != LayerSSH || sj.SSHDetectMin != 3 || sj.SSHDetect != 8 {
		t.Fatalf("server judgment %+v", sj)
	}
	predicted := map[string]Judgment{"client_closed": cj, "server_closed": sj}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "-n", "bash", filepath.Join(dir, "e2e.sh"), dir)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
		t.Fatalf("e2e: %v\n%s\nsshd log:\n%s", err, out, log)
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				got[f[0]] = v
			}
		}
	}
	t.Logf("measured: %s", strings.TrimSpace(string(out)))
	if got["timers"] != 2 {
		t.Errorf("TCPKeepAlive yes on both sides: want 2 sockets with a keepalive timer, got %v", got["timers"])
	}
	// Both sides must close between CountMax and CountMax+1 intervals
	// after the peer fell silent (plus scheduling slack on a busy machine).
	for side, j := range predicted {
		v, ok := got[side]
		if !ok {
			t.Errorf("%s: not measured", side)
			continue
		}
		if lo, hi := float64(j.SSHDetectMin)-0.5, float64(j.SSHDetect)+1.5; v < lo || v > hi {
			t.Errorf("%s after %.2f s, predicted %d-%d s", side, v, j.SSHDetectMin, j.SSHDetect)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ssh1.err")); !bytes.Contains(b, []byte("not responding")) {
		t.Errorf("client did not time out the server: %s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sshd.log")); !bytes.Contains(b, []byte("Timeout, client not responding")) {
		t.Errorf("sshd did not time out the client:\n%s", b)
	}
}
