package main

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// secret stands for every credential the tests hand the harness; trust authentication on the
// test PostgreSQL ignores a password, so a run with one still reaches the server.
const secret = "s3cretHOSTILE-32-bytes-or-more-for-jwt"

// TestRunRecordsNoSecret feeds a credential in every form an operator may write it through a
// real `loadtest run` (the built binary, the real server and PostgreSQL) and looks for it in
// every file of the run folder, on stdout and on stderr.
func TestRunRecordsNoSecret(t *testing.T) {
	dsn, bin := runEnv(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	withPassword := *u
	withPassword.User = url.UserPassword(u.User.Username(), secret)
	q := u.Query()
	q.Set("password", secret)
	inQuery := *u
	inQuery.RawQuery = q.Encode()
	q.Set("sslmode", "bogus")
	badSSL := *u
	badSSL.RawQuery = q.Encode()
	keyword := strings.Join([]string{"host=" + u.Hostname(), "port=" + u.Port(), "user=" + u.User.Username(),
		"dbname=" + strings.TrimPrefix(u.Path, "/"), "sslmode=disable", "password=" + secret}, " ")

	tests := []struct {
		name   string
		args   []string
		folder bool   // a run folder is written (else the run stops before one)
		want   string // in stderr: the run got as far as the form is meant to take it
	}{
		{name: "url userinfo", folder: true, args: []string{"-database-url", withPassword.String()}},
		{name: "query-string password", folder: true, args: []string{"-database-url", inQuery.String()}},
		{name: "keyword dsn", folder: true, args: []string{"-database-url", keyword}},
		{name: "query-string token, key and secret; unparsable url", folder: true, args: []string{"-database-url", dsn,
			// A bad escape: url.Parse fails on it, the run does not (a trace link base only).
			"-jaeger-url", "http://admin:" + secret + "%zz@127.0.0.1:1/?token=" + secret + "&api_key=" + secret + "&client_secret=" + secret}},
		{name: "server-env values", folder: true, args: []string{"-database-url", dsn,
			"-server-env", "DATABASE_URL=" + inQuery.String(), "-server-env", "API_TOKEN=" + secret + ",more",
			"-server-env", "BENCH_NOTE=password=" + secret}},
		{name: "server-env JWT_SECRET", folder: true, args: []string{"-database-url", dsn, "-server-env", "JWT_SECRET=" + secret}},
		// The server cannot parse its DATABASE_URL and says so, quoting it, in the log lines
		// the set-up failure carries.
		{name: "server error quoting its dsn", folder: true, want: "DATABASE_URL", args: []string{"-database-url", dsn,
			"-server-env", "DATABASE_URL=" + badSSL.String()}},
		// The harness's own connection fails the same way, before any run folder.
		{name: "harness error quoting the dsn", want: "-database-url", args: []string{"-database-url", badSSL.String()}},
	}
	loadtest := build(t, "github.com/benchharness/benchharness/loadtest")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"run"}, shortRunArgs("", bin, out)[2:]...)
			args = append(args, "-scenarios", "steady", "-duration", "1s")
			stdout, stderr, code := runBinary(t, loadtest, append(args, tt.args...)...)
			if code != 0 && code != 1 && code != 2 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			t.Logf("exit %d; stderr ends %q", code, stderr[max(0, len(stderr)-300):])
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr)
			}
			for name, text := range map[string]string{"stdout": stdout, "stderr": stderr} {
				if strings.Contains(text, secret) {
					t.Errorf("%s holds the secret:\n%s", name, text)
				}
			}
			files := secretFiles(t, out)
			if len(files) > 0 {
				t.Errorf("files holding the secret: %v", files)
			}
			if _, err := os.Stat(filepath.Join(out, "latest", "summary.json")); (err == nil) != tt.folder {
				t.Errorf("run folder written: %v, want %v (exit %d; stderr:\n%s)", err == nil, tt.folder, code, stderr)
			}
		})
	}
}

// runBinary runs bin with args and returns its output and exit code.
func runBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// secretFiles lists the files under dir that hold the secret, and fails when dir holds none
// at all (then the test looked at nothing).
func secretFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() { // out/latest is a symbolic link to the run folder
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
