package units

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriteFilesAtomicAndIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "units")
	files := []File{{"a.socket", []byte("A\n")}, {"a.service", []byte("S\n")}}
	res, err := WriteFiles(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Changed, []string{"a.socket", "a.service"}) {
		t.Errorf("first write changed %v", res.Changed)
	}
	files[1].Content = []byte("S2\n")
	res, err = WriteFiles(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Changed, []string{"a.service"}) || !reflect.DeepEqual(res.Unchanged, []string{"a.socket"}) {
		t.Errorf("second write: %+v", res)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temp files left behind: %v", entries)
	}
	fi, err := os.Stat(filepath.Join(dir, "a.service"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("a.service: %v %v", fi.Mode(), err)
	}
	// A directory in the way of one file: nothing of the batch may appear.
	if err := os.Mkdir(filepath.Join(dir, "b.service"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.service", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = WriteFiles(dir, []File{{"b.socket", []byte("B\n")}, {"b.service", []byte("S\n")}})
	if err == nil {
		t.Fatal("writing over a directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "b.socket")); err == nil {
		t.Error("b.socket written although the batch failed")
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("temp files left behind after failure: %v", entries)
	}
}
