package fleet

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// makeRelease writes a release of the test app under run/src/NAME: the good
// app or the one whose import fails.
func makeRelease(t *testing.T, run, name string, broken bool) string {
	t.Helper()
	dir := filepath.Join(run, "src", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "app.py"
	if broken {
		src = "broken_app.py"
	}
	code, err := os.ReadFile(filepath.Join("testdata", src))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "app.py"), code, 0o644)
	writeFile(t, filepath.Join(dir, "RELEASE"), []byte(name+"\n"), 0o644)
	return dir
}

// appState is what must not change on a host that a roll did not touch.
type appState struct {
	MainPID, NRestarts, ActiveState, StatusText string
	Current                                     string   // where BASE/current points
	Releases                                    []string // BASE/releases
	Generations                                 []int    // SDLAUNCH_GENERATION of the service's processes
	Processes                                   int
}

var statusProcRe = regexp.MustCompile(`(?m)^\s+(\d+)\s+(launcher|worker|other)\s+(\S+)\s+(\S+)\s`)

// state reads the app's state on h (as the test, through nsenter).
func (h *host) state(name, base string) appState {
	h.t.Helper()
	var s appState
	for _, kv := range strings.Split(strings.TrimSpace(h.mustRun("systemctl", "show", "-p", "MainPID,NRestarts,ActiveState,StatusText", name+".service")), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "MainPID":
			s.MainPID = v
		case "NRestarts":
			s.NRestarts = v
		case "ActiveState":
			s.ActiveState = v
		case "StatusText":
			s.StatusText = v
		}
	}
	s.Current = strings.TrimSpace(h.run("readlink", base+"/current").stdout)
	s.Releases = strings.Fields(h.run("ls", base+"/releases").stdout)
	status := h.mustRun("sdlaunch", "status", name)
	gens := map[int]bool{}
	for _, m := range statusProcRe.FindAllStringSubmatch(status, -1) {
		if m[2] == "launcher" || (m[2] == "other" && m[4] == "-") { // e.g. ExecReload's reload-wait
			continue
		}
		s.Processes++
		g, err := strconv.Atoi(m[4])
		if err != nil {
			h.t.Fatalf("%s: sdlaunch status: generation %q of pid %s:\n%s", h.name, m[4], m[1], status)
		}
		gens[g] = true
	}
	for g := range gens {
		s.Generations = append(s.Generations, g)
	}
	sort.Ints(s.Generations)
	return s
}

// waitGeneration waits until every process of the app on h is of
// generation gen: the old workers of a reload have finished and exited.
// The deadline only bounds a hang (they drain in well under a second).
func (h *host) waitGeneration(name, base string, gen int) appState {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := h.state(name, base)
		if slices.Equal(s.Generations, []int{gen}) {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: processes of generations %v after 90s, want only %d: %+v", h.name, s.Generations, gen, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var releaseRe = regexp.MustCompile(`^release (\S+) worker (\d+) generation (\d+) pid (\d+)\n$`)

// releases GETs url n times, each on a new connection, and counts the
// answers by release; any failure is fatal.
func releases(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	defer client.CloseIdleConnections()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := releaseRe.FindStringSubmatch(string(body))
		if err != nil || resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("GET %s: %d %v %q", url, resp.StatusCode, err, body)
		}
		seen[m[1]]++
	}
	return seen
}

func only(release string, n int) map[string]int { return map[string]int{release: n} }

func fmtState(s appState) string {
	return fmt.Sprintf("pid %s, %s, restarts %s, current %s, releases %v, generations %v (%d processes), status %q",
		s.MainPID, s.ActiveState, s.NRestarts, filepath.Base(s.Current), s.Releases, s.Generations, s.Processes, s.StatusText)
}
