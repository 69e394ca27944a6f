package units

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// CheckRootOwned refuses an sdlaunch binary that someone other than root
// could replace: the file or one of its directories not owned by root, or
// writable by its group or others. A system unit runs the binary as root
// in ExecStopPost=+ (afterexit.go), so a binary the app's user could
// rewrite would hand that user root at the app's next exit 69.
func CheckRootOwned(path string) error {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return invalidf("sdlaunch path %q: %v", path, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		// a sticky directory (/tmp) lets others create, not replace
		writable := fi.Mode().Perm()&0o022 != 0 && !(fi.IsDir() && fi.Mode()&os.ModeSticky != 0)
		if st.Uid != 0 || writable {
			return invalidf("sdlaunch path %q: %s is %s; the system units run it as root after an exit 69, so it must be owned by root and writable by root only (install it under /usr/bin or /usr/local/bin)",
				path, p, describeOwner(st.Uid, fi.Mode()))
		}
		if p == "/" {
			return nil
		}
	}
}

func describeOwner(uid uint32, mode os.FileMode) string {
	if uid != 0 {
		return fmt.Sprintf("owned by uid %d", uid)
	}
	return fmt.Sprintf("writable by its group or others (mode %s)", mode.Perm())
}
