// Package supervisor reads supervisord's configuration dialect and turns its
// [program:x] sections into the arguments of `sdlaunch install`.
//
// The reader follows supervisor 4.2.5 (Debian 12) closely enough that a file
// means here what it means to supervisord: Python's RawConfigParser rules
// (";" and "#" comments, inline only after whitespace, continuation lines by
// indentation, "key: value" as well as "key = value", a [DEFAULT] section,
// later files and sections merging into earlier ones), [include] files= globs
// relative to the including file's directory (Python's glob: "*" skips dot
// files), %(here)s and the %-expansions (%(program_name)s, %(process_num)02d,
// %(ENV_X)s, ...), environment= split by Python's non-POSIX shlex, and command=
// split by its POSIX one. A differential test runs supervisor's own parser on
// the test files.
//
// Nothing here runs a process or talks to systemd: Load reads files, Import is
// a pure translation, and the caller validates the result through the same
// flag parsing as `sdlaunch install`.
package supervisor
