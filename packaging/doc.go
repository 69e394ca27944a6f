// Package packaging builds the Debian package (build-deb.sh, run by
// `make deb`); its test builds one and checks what it ships.
package packaging
