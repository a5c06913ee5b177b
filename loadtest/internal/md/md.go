// Package md escapes text for Markdown (GitHub's flavour: PR comments, job summaries, the
// report.md, compare.md and perf.md files). One set of rules for every writer: text that comes
// from outside (error messages, URLs, function names) stays literal and on one line, and never
// breaks a table.
package md

import "strings"

// special are the characters that start Markdown or HTML constructs inline. Escaping every one
// with a backslash (CommonMark allows it before any ASCII punctuation) keeps input text literal.
const special = "\\`*_[]<>|#~!&"

// OneLine folds control characters and runs of white space into single spaces.
func OneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// Text escapes s for running Markdown text or a table cell, on one line (a pipe would end the
// cell, a newline the row).
func Text(s string) string {
	var b strings.Builder
	for _, r := range OneLine(s) {
		if strings.ContainsRune(special, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Code wraps s in a code span with a fence longer than any backtick run inside it. Pipes stay
// escaped: GitHub splits table cells on them even inside code spans.
func Code(s string) string {
	s = strings.ReplaceAll(OneLine(s), "|", `\|`)
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// LinkDest percent-encodes the characters that would end a Markdown link destination or a table
// cell.
func LinkDest(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "|", "%7C", "<", "%3C", ">", "%3E", "\n", "", "\r", "").Replace(u)
}
