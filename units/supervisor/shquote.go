package supervisor

import "strings"

// ShellJoin quotes words for a POSIX shell (sh, dash, bash, zsh, also
// interactive): a word of only safe characters stays bare, anything else is
// single-quoted, with ' written as '\”.
func ShellJoin(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellQuote(w)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(w string) string {
	// zsh expands a word starting with "=" to a command's path
	if w != "" && w[0] != '=' && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
