package supervisor

import "strings"

// Report renders an import as `sdlaunch import-supervisor` prints it: on
// stdout, for each program, a comment naming its section and the install
// command to paste; on stderr, one line per note.
func Report(ims []*Import, notes []Note) (stdout, stderr string) {
	var out, errs strings.Builder
	for _, n := range notes {
		errs.WriteString(n.String() + "\n")
	}
	for _, im := range ims {
		out.WriteString("# [program:" + im.Program + "] " + im.Pos.String() + "\n")
		out.WriteString(im.CommandLine() + "\n")
		for _, n := range im.Notes {
			errs.WriteString(n.String() + "\n")
		}
	}
	return out.String(), errs.String()
}
