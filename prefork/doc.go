// Package prefork is the master: it starts N workers on the shared sockets
// through the activation shim, supervises them (readiness, crash restart with
// backoff, boot-failure halt, worker watchdog), rolls generations on reload,
// scales, stops gracefully, proxies the workers' sd_notify messages, forwards
// their output to the journal, and reports to systemd.
//
// One goroutine (the supervisor loop, master.go) owns all worker state; the
// reaper, signal handler, notify readers, log forwarders and control server
// only send it events.
package prefork
