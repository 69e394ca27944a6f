package fleet

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"testing"
)

// loopbackNet is a /24 of 127.0.0.0/8 of this run: host i has the address
// .i for its sshd and its app, the balancer .100. The containers share this
// machine's network, so a fresh /24 per run keeps concurrent runs (and
// other tests on 127.0.0.1) apart; ports are still checked before use, since
// a wildcard listener on this machine would take them on every address.
type loopbackNet struct{ prefix string }

func newLoopbackNet(t *testing.T) loopbackNet {
	t.Helper()
	// 127.100.0.0 to 127.254.255.0: well away from 127.0.0.0/16.
	return loopbackNet{prefix: fmt.Sprintf("127.%d.%d.", 100+randInt(t, 155), randInt(t, 256))}
}

func (n loopbackNet) addr(i int) string { return n.prefix + strconv.Itoa(i) }

func randInt(t *testing.T, n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return int(v.Int64())
}

// freePort returns a port in [lo, hi] that is free on every one of addrs
// right now.
func freePort(t *testing.T, lo, hi int, addrs ...string) int {
	t.Helper()
	start := randInt(t, hi-lo+1)
next:
	for i := 0; i <= hi-lo; i++ {
		p := lo + (start+i)%(hi-lo+1)
		for _, a := range addrs {
			l, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(p)))
			if err != nil {
				continue next
			}
			_ = l.Close()
		}
		return p
	}
	t.Fatalf("no port in %d-%d free on %v", lo, hi, addrs)
	return 0
}
