// Package docs checks the usage docs (README.md and docs/*.md) against what they describe: every
// flag they give a loadtest or perf command is in that command's -h, every make target exists and
// make help lists it, every environment variable is read by the code or a script, and every file
// name is one the code (or a script) writes or reads. A rename then fails here, not for a reader.
//
// A flag is checked against the command it is given to in the same span or code line; one named
// alone must belong to some loadtest or perf command; one given to another tool (kubectl, go,
// vegeta) is that tool's business. File names are checked against the names the Go code under
// loadtest/ builds (literals and concatenations, a computed part matching anything), not against
// a run folder: a run needs a server and a lock on the machine, longer than this test should take.
package docs

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The repository root, seen from this package's folder (go test runs in it).
const root = ".."

// notEnv lists upper-case words the docs put in backticks that are not environment variables:
// placeholders, signals, errno names and Dockerfile or HTTP words. They are never looked up.
var notEnv = map[string]bool{
	"NAME": true, "KEY": true, "K": true, "V": true, "VALUE": true, "T": true, "N": true, "URL": true, // placeholders
	"FILE": true, "DIR": true, "TOKEN": true,
	"EXPOSE":   true, // a Dockerfile instruction
	"SIGALRM":  true, // a signal
	"EAGAIN":   true, // an errno
	"MANIFEST": true, // a file of each bench/recordings folder
}

// externalEnv lists variables the docs name that no code of this repository reads, because
// someone else does.
var externalEnv = map[string]string{
	"GODEBUG":    "Go runtime",
	"KUBECONFIG": "kubectl",
}

// externalFlags lists flags the docs name alone (no command in the same span) that belong to
// another tool; each is named with its tool. A flag the docs give with its command (`kubectl
// apply -k`, `go test -run`) is recognised by that command and needs no entry here.
var externalFlags = map[string]string{
	"fault":          "examples/notes, the example service",
	"R":              "pgbench (throttle rate)",
	"t2":             "wrk (-t2: threads)",
	"c32":            "wrk (-c32: connections)",
	"k":              "kubectl apply -k",
	"use-aliases":    "kompose / docker compose",
	"enable-feature": "prometheus",
	"benchtime":      "go test",
	"memprofile":     "go test",
	"memprofilerate": "go test",
	"post-share":     "a removed flag the docs say is gone",
}

// argsVars maps the make variables that carry a command's flags to that command.
var argsVars = map[string]string{
	"BENCH_ARGS": "loadtest run",
	"PERF_ARGS":  "perf run",
}

// wrappers run the command that follows them: the command position moves past them.
var wrappers = map[string]bool{
	"with-postgres.sh": true, "sudo": true, "env": true, "time": true, "exec": true, "nohup": true,
}

// span is one piece of code in a doc: an inline code span or one (continued) line of a fenced block.
type span struct {
	file  string
	line  int
	text  string
	block bool
}

func (s span) String() string { return fmt.Sprintf("%s:%d: `%s`", s.file, s.line, s.text) }

// docFiles are the usage docs: README.md and docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatalf("glob docs: %v", err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	return files
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// spans returns the code of one markdown file: fenced lines (joined across a trailing
// backslash) and inline spans (which may wrap across lines of a paragraph).
func spans(t *testing.T, file string) []span {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read doc: %v", err)
	}
	name, _ := filepath.Rel(root, file)
	lines := strings.Split(string(b), "\n")
	var out []span
	var para []string
	paraStart := 0
	flush := func() {
		text := strings.Join(para, "\n")
		for _, m := range inlineCode.FindAllStringSubmatchIndex(text, -1) {
			line := paraStart + strings.Count(text[:m[0]], "\n")
			out = append(out, span{file: name, line: line, text: strings.ReplaceAll(text[m[2]:m[3]], "\n", " ")})
		}
		para = nil
	}
	inFence := false
	cont := ""
	contLine := 0
	for i, l := range lines {
		n := i + 1
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			flush()
			inFence = !inFence
			continue
		}
		if inFence {
			if cont == "" {
				contLine = n
			}
			if strings.HasSuffix(l, "\\") {
				cont += strings.TrimSuffix(l, "\\") + " "
				continue
			}
			out = append(out, span{file: name, line: contLine, text: cont + l, block: true})
			cont = ""
			continue
		}
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if para == nil {
			paraStart = n
		}
		para = append(para, l)
	}
	flush()
	return out
}

// fields splits a shell-like line into words, keeping quoted strings whole (quotes removed) and
// separators (|, &&, ||, ;) as their own words.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	has := false
	emit := func() {
		if has {
			out = append(out, cur.String())
		}
		cur.Reset()
		has = false
	}
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, has = r, true
		case r == '#' && !has:
			emit()
			return out // a shell comment runs to the end of the line
		case r == ' ' || r == '\t':
			emit()
		case r == ';' || r == '|' || r == '&':
			emit()
			out = append(out, string(r))
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	emit()
	return out
}

// mention is one name the docs use, where, and (for a flag) the command it is given to.
type mention struct {
	at   span
	name string
	cmd  string // "loadtest run", "perf run", "" (alone), or another tool's name
}

var (
	flagWord  = regexp.MustCompile(`^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$`)
	envAssign = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)
	envRef    = regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*[A-Z0-9])\b`)
	upperName = regexp.MustCompile(`^\$?\{?([A-Z][A-Z0-9_]*)\}?(=(.*))?$`)
	word      = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	fileName  = regexp.MustCompile(`^[A-Za-z0-9_.<>*{},/-]*[A-Za-z0-9_<>*}-]\.(json|html|md|bin|pprof|txt)(\.gz)?$`)
)

// harvest walks the words of one span and collects the flags (with their command), make
// targets and environment variables it names; vars are the shell variables the same doc sets on
// a line of their own.
func harvest(s span, words []string, cmd string, vars map[string]bool, flags, targets, envs *[]mention) {
	cmdPos := cmd == ""
	// A line of nothing but NAME=value sets a shell variable of the reader's (REG=... then
	// $REG): it is neither an environment variable the code reads nor one to look up.
	if s.block && len(words) > 0 && allAssign(words) {
		return
	}
	wrapper := ""
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch w {
		case "|", "&", ";":
			cmd, cmdPos = "", true
			continue
		}
		if m := envAssign.FindStringSubmatch(w); m != nil && (cmdPos || cmd == "make" || s.block) {
			*envs = append(*envs, mention{at: s, name: m[1]})
			if c, ok := argsVars[m[1]]; ok {
				harvest(s, fields(m[2]), c, vars, flags, targets, envs)
			} else if v := envAssign.FindStringSubmatch(m[2]); v != nil {
				*envs = append(*envs, mention{at: s, name: v[1]}) // REGRESS_SERVER_ENV=BENCH_EXTRA_CPU=2ms
			}
			continue
		}
		for _, m := range envRef.FindAllStringSubmatch(w, -1) {
			if !vars[m[1]] {
				*envs = append(*envs, mention{at: s, name: m[1]})
			}
		}
		if m := flagWord.FindStringSubmatch(w); m != nil {
			if cmdPos && wrapper != "" {
				cmd, cmdPos = wrapper, false // with-postgres.sh --check: the wrapper's own flag
			}
			if cmd != "make" {
				*flags = append(*flags, mention{at: s, name: m[1], cmd: cmd})
			}
			cmdPos = false // -only P3f -rounds 7: the words after a lone flag are its values
			continue
		}
		base := path.Base(w)
		switch {
		case cmdPos && (base == "loadtest" || base == "perf") && i+1 < len(words) && isWord(words[i+1]):
			cmd, cmdPos = base+" "+words[i+1], false
			i++
		case cmd == "make" && isWord(w) && !strings.ContainsAny(w, "$<>"):
			*targets = append(*targets, mention{at: s, name: w})
		case cmdPos && strings.HasSuffix(w, ":"):
			// A header or a config key (X-Bench-Delay: -cancel-delay): what follows is its value.
		case cmdPos && wrappers[base]:
			wrapper = base
		case cmdPos && base == "flock":
			i++ // its lock file
		case cmdPos:
			cmd, cmdPos = base, false
		}
	}
}

// allAssign reports whether every word is a NAME=value.
func allAssign(words []string) bool {
	for _, w := range words {
		if !envAssign.MatchString(w) {
			return false
		}
	}
	return true
}

// isWord reports whether w can be a subcommand or a make target.
func isWord(w string) bool { return word.MatchString(w) }

// mentions collects every flag, make target, environment variable and file name the usage docs
// name in code.
func mentions(t *testing.T) (flags, targets, envs, files []mention) {
	t.Helper()
	for _, f := range docFiles(t) {
		all := spans(t, f)
		vars := map[string]bool{}
		for _, s := range all {
			if w := fields(s.text); s.block && len(w) > 0 && allAssign(w) {
				for _, a := range w {
					vars[envAssign.FindStringSubmatch(a)[1]] = true
				}
			}
		}
		for _, s := range all {
			text := strings.TrimSpace(s.text)
			if text == "" {
				continue
			}
			if !s.block {
				if m := upperName.FindStringSubmatch(text); m != nil {
					envs = append(envs, mention{at: s, name: m[1]})
					if v := upperName.FindStringSubmatch(m[3]); v != nil && m[3] != "" {
						envs = append(envs, mention{at: s, name: v[1]})
					}
					continue
				}
				if fileName.MatchString(text) {
					files = append(files, mention{at: s, name: text})
					continue
				}
			}
			harvest(s, fields(text), "", vars, &flags, &targets, &envs)
		}
	}
	return flags, targets, envs, files
}

// commandFlags builds a command-line tool of this module and returns, per subcommand, the flags
// its -h lists.
func commandFlags(t *testing.T, pkg, name string) map[string]map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, "./"+pkg)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", pkg, err, out)
	}
	usage, _ := exec.Command(bin, "-h").CombinedOutput() // -h's exit code is the tool's business
	cmds := map[string]map[string]bool{}
	inCommands := false
	for _, l := range strings.Split(string(usage), "\n") {
		if strings.HasPrefix(l, "commands:") {
			inCommands = true
			continue
		}
		f := strings.Fields(l)
		if !inCommands || len(f) == 0 || !strings.HasPrefix(l, "  ") {
			inCommands = inCommands && len(f) > 0
			continue
		}
		cmds[f[0]] = map[string]bool{}
	}
	if len(cmds) == 0 {
		t.Fatalf("%s -h lists no commands:\n%s", name, usage)
	}
	flagLine := regexp.MustCompile(`^\s+-([A-Za-z][A-Za-z0-9-]*)`)
	total := 0
	for c := range cmds {
		out, _ := exec.Command(bin, c, "-h").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if m := flagLine.FindStringSubmatch(l); m != nil {
				cmds[c][m[1]] = true
			}
		}
		total += len(cmds[c])
	}
	if total == 0 {
		t.Fatalf("no command of %s lists a flag in its -h: the parsing is broken", name)
	}
	return cmds
}

// goLiterals returns the string literals of the Go files under dir (tests included when tests),
// and the file-name patterns the non-test code builds: literal parts kept, everything computed
// (a variable, a %s or %d verb) turned into *.
func goLiterals(t *testing.T, dir string, tests bool) (lits map[string]bool, patterns []string) {
	t.Helper()
	lits = map[string]bool{}
	fset := token.NewFileSet()
	verb := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != dir {
			return filepath.SkipDir
		}
		isTest := strings.HasSuffix(p, "_test.go")
		if d.IsDir() || !strings.HasSuffix(p, ".go") || (isTest && !tests) {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil {
						lits[s] = true
						if !isTest {
							patterns = append(patterns, verb.ReplaceAllString(s, "*"))
						}
					}
				}
			case *ast.BinaryExpr:
				if n.Op == token.ADD && !isTest {
					patterns = append(patterns, concat(n))
					return true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("read Go sources under %s: %v", dir, err)
	}
	return lits, patterns
}

// concat renders a + chain with its literal strings kept and every other operand as *.
func concat(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return concat(e.X) + concat(e.Y)
		}
	case *ast.BasicLit:
		if s, err := strconv.Unquote(e.Value); err == nil && e.Kind == token.STRING {
			return s
		}
	case *ast.ParenExpr:
		return concat(e.X)
	}
	return "*"
}

func TestFlags(t *testing.T) {
	known := map[string]map[string]bool{}
	for tool, pkg := range map[string]string{"loadtest": "loadtest", "perf": "loadtest/perf"} {
		for c, fl := range commandFlags(t, pkg, tool) {
			known[tool+" "+c] = fl
		}
	}
	lits, _ := goLiterals(t, filepath.Join(root, "loadtest"), false)
	flags, _, _, _ := mentions(t)
	if len(flags) == 0 {
		t.Fatal("the docs name no flag: the extraction is broken")
	}
	t.Logf("%d flags named in the docs", len(flags))
	for _, m := range flags {
		switch fl, ok := known[m.cmd]; {
		case m.name == "h" || m.name == "help":
			// Every command answers -h.
		case ok:
			if !fl[m.name] && !hidden(m.name, lits) {
				t.Errorf("%s: -%s is not a flag of %s (not in its -h)", m.at, m.name, m.cmd)
			}
		case strings.HasSuffix(m.cmd, ".sh"):
			if !scriptHas(t, m.cmd, m.name) {
				t.Errorf("%s: -%s is not an option of %s (not in its text)", m.at, m.name, m.cmd)
			}
		case strings.HasPrefix(m.cmd, "loadtest "):
			t.Errorf("%s: %s: no such command (loadtest -h)", m.at, m.cmd)
		case m.cmd != "":
			// Another tool's flag (kubectl, go, vegeta, curl, ...): not ours to check.
		default:
			if anyHas(known, m.name) || hidden(m.name, lits) {
				continue
			}
			if _, ok := externalFlags[m.name]; !ok {
				t.Errorf("%s: -%s is a flag of no loadtest or perf command (not in any -h)", m.at, m.name)
			}
		}
	}
}

// scriptHas reports whether a script of scripts/ or bench/ mentions the option.
func scriptHas(t *testing.T, script, name string) bool {
	t.Helper()
	for _, dir := range []string{"scripts", "bench"} {
		if b, err := os.ReadFile(filepath.Join(root, dir, script)); err == nil {
			return regexp.MustCompile(`(^|[^A-Za-z0-9-])--?` + regexp.QuoteMeta(name) + `\b`).Match(b)
		}
	}
	t.Errorf("no script %s in scripts/ or bench/", script)
	return false
}

// hidden reports whether a flag is a test-only one left out of -h that the sources still define.
func hidden(name string, lits map[string]bool) bool {
	return strings.HasPrefix(name, "test-") && lits[name]
}

func anyHas(known map[string]map[string]bool, name string) bool {
	for _, fl := range known {
		if fl[name] {
			return true
		}
	}
	return false
}

func TestMakeTargets(t *testing.T) {
	help := exec.Command("make", "--no-print-directory", "help")
	help.Dir = root
	out, err := help.Output()
	if err != nil {
		t.Fatalf("make help: %v", err)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
			listed[f[0]] = true
		}
	}
	// make -pq prints the rule database without running a recipe; its exit code says whether the
	// default goal is up to date, which does not matter here.
	db := exec.Command("make", "-pq")
	db.Dir = root
	dbOut, _ := db.Output()
	exists := map[string]bool{}
	rule := regexp.MustCompile(`^([a-zA-Z0-9][a-zA-Z0-9./_-]*):`)
	prev := ""
	for _, l := range strings.Split(string(dbOut), "\n") {
		if m := rule.FindStringSubmatch(l); m != nil && !strings.HasPrefix(prev, "# Not a target") {
			exists[m[1]] = true
		}
		prev = l
	}
	if !exists["help"] || !listed["help"] {
		t.Fatalf("make -pq or make help lists no help target: the parsing is broken\n%s", out)
	}
	_, targets, _, _ := mentions(t)
	t.Logf("%d make targets named in the docs", len(targets))
	for _, m := range targets {
		switch {
		case !exists[m.name]:
			t.Errorf("%s: make %s: no such target", m.at, m.name)
		case !listed[m.name]:
			t.Errorf("%s: make %s: a target make help does not list", m.at, m.name)
		}
	}
}

// nonGo returns the text of the scripts, makefiles and manifests, which set and read variables
// and write files too.
func nonGo(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, glob := range []string{"Makefile", "mk/*.mk", "scripts/*", "docker-compose.yml", "Dockerfile",
		"deploy/*/*", "deploy/*/*/*", "deploy/*/*/*/*", ".github/workflows/*", ".ci/*", "bench/*.sh"} {
		files, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			t.Fatalf("glob %s: %v", glob, err)
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.IsDir() {
				continue
			}
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("read %s: %v", f, err)
			}
			b.Write(text)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func TestEnvVars(t *testing.T) {
	lits, _ := goLiterals(t, root, true)
	other := nonGo(t)
	_, _, envs, _ := mentions(t)
	if len(envs) == 0 {
		t.Fatal("the docs name no environment variable: the extraction is broken")
	}
	t.Logf("%d environment variables named in the docs", len(envs))
	for _, m := range envs {
		if notEnv[m.name] || externalEnv[m.name] != "" || inGo(lits, m.name) {
			continue
		}
		if regexp.MustCompile(`\b` + m.name + `\b`).Match(other) {
			continue
		}
		t.Errorf("%s: %s is read by no code, script or makefile here", m.at, m.name)
	}
}

// inGo reports whether a Go string literal is the variable's name or sets it (NAME=...).
func inGo(lits map[string]bool, name string) bool {
	if lits[name] {
		return true
	}
	for l := range lits {
		if strings.HasPrefix(l, name+"=") {
			return true
		}
	}
	return false
}

func TestFileNames(t *testing.T) {
	_, patterns := goLiterals(t, filepath.Join(root, "loadtest"), false)
	other := nonGo(t)
	_, _, _, files := mentions(t)
	if len(files) == 0 {
		t.Fatal("the docs name no file: the extraction is broken")
	}
	t.Logf("%d file names in the docs", len(files))
	placeholder := regexp.MustCompile(`<[^>]*>|\*`)
	for _, m := range files {
		if !strings.Contains(m.name, "<") && !strings.Contains(m.name, "*") {
			if _, err := os.Stat(filepath.Join(root, m.name)); err == nil {
				continue // a file of the repository (bench/thresholds.json)
			}
		}
		for _, name := range expand(path.Base(m.name)) {
			name = placeholder.ReplaceAllString(name, "x")
			if !matchesAny(patterns, name) && !bytes.Contains(other, []byte("/"+name)) {
				t.Errorf("%s: %s: no code under loadtest/ nor script writes or reads a file so named", m.at, name)
			}
		}
	}
}

// expand turns a{b,c}d into abd and acd.
func expand(s string) []string {
	i, j := strings.Index(s, "{"), strings.Index(s, "}")
	if i < 0 || j < i {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:j], ",") {
		out = append(out, expand(s[:i]+alt+s[j+1:])...)
	}
	return out
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if !strings.Contains(p, ".") {
			continue
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// TestReadmeSampleTable checks that the README's sample table sits between the markers make
// readme-table rewrites, and names a commit of this repository's history that it measured.
func TestReadmeSampleTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)<!-- sample-table:start[^>]*-->\n```\nVERDICT .*?\n```\n(.*?)\n<!-- sample-table:end -->").FindSubmatch(b)
	if block == nil {
		t.Fatal("README.md: no sample table between the sample-table markers (make readme-table writes it)")
	}
	commit := regexp.MustCompile("at commit ([0-9a-f]{7,40}) on ").FindSubmatch(block[1])
	if commit == nil {
		t.Fatalf("README.md: the sample table's caption %q names no commit", block[1])
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed: the commit is not looked up")
	}
	if err := exec.Command("git", "-C", root, "merge-base", "--is-ancestor", string(commit[1]), "HEAD").Run(); err != nil {
		t.Errorf("README.md: the sample table's commit %s is not in this checkout's history (%v)", commit[1], err)
	}
}
