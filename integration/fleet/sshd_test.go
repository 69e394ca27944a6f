package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sshKeys are the test's client key and known_hosts, shared by its hosts.
type sshKeys struct {
	dir        string
	key        string // private key file
	pub        []byte
	knownHosts string
}

func newSSHKeys(t *testing.T, run string) *sshKeys {
	t.Helper()
	k := &sshKeys{dir: filepath.Join(run, "ssh")}
	if err := os.MkdirAll(k.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	k.key = filepath.Join(k.dir, "id_ed25519")
	k.knownHosts = filepath.Join(k.dir, "known_hosts")
	mustLocal(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sdlaunch-fleet-test", "-f", k.key)
	pub, err := os.ReadFile(k.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k.pub = pub
	writeFile(t, k.knownHosts, nil, 0o644)
	return k
}

// args are ssh's options for reaching a host: only this key, only this
// known_hosts (strictly), nothing from ~/.ssh.
func (k *sshKeys) args() []string {
	return []string{"-F", "/dev/null", "-i", k.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile=" + k.knownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30"}
}

// startSSHD gives the host its own host key and an sshd on addr:port that
// lets the test's key in as root, and records the host key in known_hosts.
// sshd is Type=notify on Debian: `systemctl start` returns once it listens.
func (h *host) startSSHD(k *sshKeys, port int) {
	t := h.t
	t.Helper()
	hostKey := filepath.Join(h.dir, "ssh_host_ed25519_key")
	mustLocal(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", hostKey)
	authorized := filepath.Join(h.dir, "authorized_keys")
	writeFile(t, authorized, k.pub, 0o600)
	config := filepath.Join(h.dir, "sshd_config")
	writeFile(t, config, []byte(fmt.Sprintf(`# sshd of fleet host %s
ListenAddress %s:%d
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile none
MaxStartups 50
Subsystem sftp internal-sftp
`, h.name, h.addr, port, hostKey, authorized)), 0o644)
	h.writeFile("/etc/systemd/system/fleet-sshd.service", []byte(fmt.Sprintf(`[Unit]
Description=sshd of fleet host %s
[Service]
Type=notify
ExecStartPre=/usr/sbin/sshd -t -f %s
ExecStart=/usr/sbin/sshd -D -e -f %s
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755
`, h.name, config, config)), "0644")
	h.mustRun("systemctl", "daemon-reload")
	if r := h.run("systemctl", "start", "fleet-sshd.service"); r.code != 0 {
		j := h.run("journalctl", "--no-pager", "-n", "30", "-u", "fleet-sshd.service")
		t.Fatalf("%s: start sshd: %s\n%s", h.name, r, j.stdout)
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	line := fmt.Sprintf("[%s]:%d %s %s\n", h.addr, port, f[0], f[1])
	kh, err := os.OpenFile(k.knownHosts, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer kh.Close()
	if _, err := kh.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

// sshTarget says how to reach a host over ssh.
type sshTarget struct {
	keys *sshKeys
	addr string
	port int
}

func (s sshTarget) base() []string {
	return append(s.keys.args(), "-p", strconv.Itoa(s.port))
}

// ssh runs a shell command line on the host, as root, over ssh.
func (s sshTarget) ssh(timeout time.Duration, command string) result {
	return runCmd(timeout, nil, nil, "ssh", append(s.base(), "root@"+s.addr, command)...)
}

// scp copies local paths (recursively) to dest on the host.
func (s sshTarget) scp(t *testing.T, dest string, paths ...string) {
	t.Helper()
	args := append(s.keys.args(), "-P", strconv.Itoa(s.port), "-r", "-p")
	args = append(append(args, paths...), "root@"+s.addr+":"+dest)
	if r := runCmd(5*time.Minute, nil, nil, "scp", args...); r.code != 0 {
		t.Fatalf("scp %v to %s:%s: %s", paths, s.addr, dest, r)
	}
}
