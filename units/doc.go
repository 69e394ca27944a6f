// Package units turns a description of an app ("this command, on these
// addresses, with these launcher options") into a systemd .socket + .service
// pair, validates it, and installs and operates it over D-Bus.
//
// Layout of the generated units (one app called NAME):
//
//   - NAME.socket holds every unnamed --listen address. Its file descriptors
//     reach the launcher with the default name "NAME.socket".
//   - NAME-LABEL.socket holds the addresses given as LABEL=ADDR, with
//     FileDescriptorName=LABEL. systemd allows one FileDescriptorName per
//     socket unit, so each distinct label gets its own socket unit.
//   - NAME.service runs `sdlaunch run ... -- COMMAND ARGS...`, lists every
//     socket unit in Sockets= and Requires=/After= them, so the sockets stay
//     open (owned by systemd) across restarts of the service.
//
// The package never imports the launcher: the launcher's options arrive as
// ready-made `sdlaunch run` arguments (App.RunArgs), and the caller, which
// parsed them, resolves the durations derived from them (App.TimeoutStop,
// App.TimeoutStart).
package units
