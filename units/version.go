package units

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSystemdVersion extracts the major version from the Manager's
// Version property ("252.39-1~deb12u2", "v255.4-1ubuntu8", "256").
func ParseSystemdVersion(s string) (int, error) {
	t := strings.TrimPrefix(strings.Trim(strings.TrimSpace(s), `"`), "v")
	end := 0
	for end < len(t) && t[end] >= '0' && t[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, fmt.Errorf("systemd version %q: no leading number", s)
	}
	n, err := strconv.Atoi(t[:end])
	if err != nil {
		return 0, fmt.Errorf("systemd version %q: %w", s, err)
	}
	return n, nil
}
