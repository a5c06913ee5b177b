package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/benchharness/benchharness/server/internal/auth"
)

// usageError is a bad command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run dispatches the subcommand. It is main without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, rest := "serve", []string(nil)
	if len(args) > 1 {
		cmd, rest = args[1], args[2:]
	}
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return &usageError{fmt.Sprintf("serve takes no arguments (settings come from the environment), got %q", rest)}
		}
		return serve(ctx, getenv, stdout)
	case "token":
		return token(rest, getenv, stdout, stderr)
	}
	return &usageError{fmt.Sprintf("unknown command %q: want serve or token", cmd)}
}

// token prints a JWT signed with JWT_SECRET (iss = JWT_ISSUER when set) and nothing else.
func token(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "loadtest", "token subject (sub claim)")
	ttl := fs.Duration("ttl", 24*time.Hour, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return &usageError{"token: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("token: unexpected arguments %q", fs.Args())}
	}
	if *ttl <= 0 {
		return &usageError{"token: -ttl must be positive"}
	}
	if *sub == "" {
		return &usageError{"token: -sub must not be empty"}
	}
	secret, err := jwtSecret(getenv)
	if err != nil {
		return err
	}
	tok, err := auth.Mint(secret, getenv("JWT_ISSUER"), *sub, *ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// buildVersion is the module version, or the VCS revision for a development build.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "devel"
}
