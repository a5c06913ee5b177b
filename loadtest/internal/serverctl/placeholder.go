package serverctl

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The placeholders of a -server-cmd, its -server-env values and its signal URLs: the free
// loopback ports the harness picked for this server.
const (
	PortPlaceholder      = "{port}"
	AdminPortPlaceholder = "{admin_port}"
)

// placeholderRE finds {name} placeholders; anything else in braces is the caller's own text.
var placeholderRE = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_]*\}`)

// CheckPlaceholders returns an error naming the first placeholder in s that is not one of
// known, so a typo ({prot}) is bad input rather than a literal the service cannot bind.
func CheckPlaceholders(s string, known ...string) error {
	for _, p := range placeholderRE.FindAllString(s, -1) {
		if !slices.Contains(known, p) {
			return fmt.Errorf("unknown placeholder %s in %q (known: %s)", p, s, strings.Join(known, ", "))
		}
	}
	return nil
}

// uses reports whether s mentions placeholder p.
func uses(p string, s ...string) bool {
	return slices.ContainsFunc(s, func(v string) bool { return strings.Contains(v, p) })
}

// expand replaces every placeholder of vars in s.
func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// SplitCommand splits a -server-cmd line into the program and its arguments the way a shell
// would split a simple command: white space separates words, single quotes keep everything,
// double quotes keep everything but a backslash-escaped " or \. No shell runs it, so the
// process the harness signals is the service itself, not a shell in front of it.
func SplitCommand(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(runes) && (runes[i+1] == '"' || runes[i+1] == '\\'):
				i++
				cur.WriteRune(runes[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, line)
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}
