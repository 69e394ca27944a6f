package observe

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var record = flag.Bool("record", false, "re-record testdata/fixtures from live servers (go test -run TestRecordFixtures -record)")

const fixtures = "testdata/fixtures"

// TestRecordFixtures snapshots every scenario, in the state its live test
// looks at, into testdata/fixtures/NAME.
func TestRecordFixtures(t *testing.T) {
	if !*record {
		t.Skip("-record not given")
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			s, l, _ := sc.run(t)
			dir := filepath.Join(fixtures, sc.name)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			end := time.Now().Add(deadline)
			for {
				w, err := Live().Snapshot(dir, os.Getpid(), s.pgid, []Listener{l}, "recorded by TestRecordFixtures")
				if err != nil {
					t.Fatal(err)
				}
				if verdictOK(sc, w) {
					t.Logf("%s: %+v", sc.name, w)
					break
				}
				os.RemoveAll(dir)
				if sc.prep != nil || time.Now().After(end) {
					t.Fatalf("%s: recorded %+v, not what the scenario expects", sc.name, w)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func verdictOK(sc scenario, w Wait) bool {
	ft := &fakeT{}
	sc.check(ft, w)
	return !ft.failed
}

// fakeT collects a check's verdict without failing the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Logf(string, ...any)   {}
func (f *fakeT) Skipf(string, ...any)  {}

// TestFixtures replays each recorded fixture: Group and Accepting over it
// must give exactly what the live look gave when it was recorded, and what
// the scenario expects.
func TestFixtures(t *testing.T) {
	byName := map[string]scenario{}
	for _, sc := range scenarios() {
		byName[sc.name] = sc
	}
	dirs, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			sc, ok := byName[d.Name()]
			if !ok {
				t.Fatalf("fixture %s has no scenario", d.Name())
			}
			b, err := os.ReadFile(filepath.Join(fixtures, d.Name(), "meta.json"))
			if err != nil {
				t.Fatal(err)
			}
			var m fixtureMeta
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			fs := FS{Root: filepath.Join(fixtures, d.Name(), "proc"), Arch: m.Arch}
			pids, err := fs.Group(m.Launcher, m.PGID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pids, m.PIDs) {
				t.Errorf("Group = %v, recorded %v", pids, m.PIDs)
			}
			w := fs.Accepting(pids, m.Listeners)
			if w.Accepting && w.PID == 0 {
				t.Errorf("Accepting over the fixture: no PID for %+v", w)
			}
			recorded := m.Wait
			recorded.PID = w.PID // recorded before Wait had it; the Detail names it
			if w != recorded {
				t.Errorf("Accepting over the fixture:\n got  %+v\n live %+v", w, m.Wait)
			}
			sc.check(t, w)
		})
	}
	for name, sc := range byName {
		if _, err := os.Stat(filepath.Join(fixtures, name)); err != nil && !sc.amd64 {
			t.Errorf("scenario %s has no fixture (go test -run TestRecordFixtures -record)", name)
		}
	}
}
