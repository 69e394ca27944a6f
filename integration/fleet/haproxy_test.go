package fleet

import (
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// haproxy is Debian's HAProxy on this machine, in front of the hosts, with
// its runtime API on a stats socket (level admin) that the play drives.
type haproxy struct {
	t       *testing.T
	socket  string
	backend string
	url     string // the frontend
	cmd     *exec.Cmd
	log     string
	exited  chan error
}

// startHAProxy balances backend over servers (name -> addr:port) from
// frontend addr:port. retries 0 and no redispatch: a backend connection
// that fails reaches the client and is counted by the load.
func startHAProxy(t *testing.T, run, backend, frontend string, servers [][2]string) *haproxy {
	t.Helper()
	p := &haproxy{t: t, socket: filepath.Join(run, "haproxy.sock"), backend: backend,
		url: "http://" + frontend + "/", log: filepath.Join(run, "haproxy.log"), exited: make(chan error, 1)}
	var b strings.Builder
	fmt.Fprintf(&b, `global
    stats socket %s mode 600 level admin
    stats timeout 1m
defaults
    mode http
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    # A slow answer on a busy machine is not a failed check.
    timeout check 10s
    retries 0
frontend fleet
    bind %s
    default_backend %s
backend %s
    balance roundrobin
    option httpchk GET /
    default-server inter 1s rise 2 fall 2
`, p.socket, frontend, backend, backend)
	for _, s := range servers {
		fmt.Fprintf(&b, "    server %s %s check\n", s[0], s[1])
	}
	cfg := filepath.Join(run, "haproxy.cfg")
	writeFile(t, cfg, []byte(b.String()), 0o644)
	mustLocal(t, "haproxy", "-c", "-q", "-f", cfg)
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p.cmd = exec.Command("haproxy", "-db", "-f", cfg)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(p.stop)
	// Ready once the runtime API answers (it is bound after the frontend).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := p.stat(); err == nil {
			return p
		} else if time.Now().After(deadline) {
			t.Fatalf("haproxy: no runtime API after 30s: %v\n%s", err, p.logText())
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("haproxy exited: %v\n%s", err, p.logText())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *haproxy) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func (p *haproxy) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(20 * time.Second):
	}
	p.t.Logf("haproxy did not stop in 20s; killing it")
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// serverStat is one server's line of `show stat`.
type serverStat struct {
	Status string
	Total  int // stot: sessions it served
	// Failures seen by HAProxy: connection errors, response errors,
	// retries and redispatches (all must stay 0).
	ConnErrors, RespErrors, Retries, Redispatches int
}

// stat asks the runtime API for the backend's servers.
func (p *haproxy) stat() (map[string]serverStat, error) {
	out, err := p.command("show stat")
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 1 {
		return nil, fmt.Errorf("show stat: %v: %q", err, out)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	num := func(row []string, k string) int {
		n, _ := strconv.Atoi(row[col[k]])
		return n
	}
	servers := map[string]serverStat{}
	for _, row := range rows[1:] {
		if len(row) < len(rows[0]) || row[col["pxname"]] != p.backend || row[col["svname"]] == "BACKEND" {
			continue
		}
		servers[row[col["svname"]]] = serverStat{Status: row[col["status"]], Total: num(row, "stot"),
			ConnErrors: num(row, "econ"), RespErrors: num(row, "eresp"), Retries: num(row, "wretr"), Redispatches: num(row, "wredis")}
	}
	return servers, nil
}

func (p *haproxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", p.socket, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("runtime API: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", fmt.Errorf("runtime API: %w", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("runtime API: %w", err)
	}
	return string(b), nil
}

func (p *haproxy) mustStat() map[string]serverStat {
	p.t.Helper()
	s, err := p.stat()
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}
