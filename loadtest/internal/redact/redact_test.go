package redact

import (
	"strings"
	"testing"
	"time"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
		secrets        []string
	}{
		{name: "url userinfo", in: "postgres://bench:s3cret@127.0.0.1:5432/items", want: "postgres://bench:xxxxx@127.0.0.1:5432/items"},
		{name: "url without password", in: "postgres://bench@127.0.0.1:5432/items", want: "postgres://bench@127.0.0.1:5432/items"},
		{name: "url with a port only", in: "http://127.0.0.1:8080/api?per_page=5", want: "http://127.0.0.1:8080/api?per_page=5"},
		{name: "password holding @ and /", in: "postgres://u:p@ss/w#rd@h/db?x=a@b", want: "postgres://u:xxxxx@h/db?x=a@b"},
		{name: "unparsable url", in: "connect `postgres://bench:s3cret%zz@h:port/db`: bad", want: "connect `postgres://bench:xxxxx@h:port/db`: bad"},
		{name: "query password", in: "postgres://bench@h/db?sslmode=disable&password=s3cret&x=1", want: "postgres://bench@h/db?sslmode=disable&password=xxxxx&x=1"},
		{name: "query token key secret", in: "http://j:16686/?token=t1&api_key=k1;client_secret=c1", want: "http://j:16686/?token=xxxxx&api_key=xxxxx;client_secret=xxxxx"},
		{name: "keyword dsn", in: "host=db port=5432 user=bench password=s3cret dbname=items", want: "host=db port=5432 user=bench password=xxxxx dbname=items"},
		{name: "keyword dsn quoted", in: `host=db password='s3 cr\'et' dbname=items`, want: "host=db password=xxxxx dbname=items"},
		{name: "keyword dsn spaces around =", in: "host=db password = s3cret", want: "host=db password = xxxxx"},
		{name: "env secret", in: "JWT_SECRET=s3cret", want: "JWT_SECRET=xxxxx"},
		{name: "env dsn value", in: "DATABASE_URL=password=s3cret host=db", want: "DATABASE_URL=password=xxxxx host=db"},
		{name: "env url value", in: "DATABASE_URL=postgres://u:s3cret@db/items", want: "DATABASE_URL=postgres://u:xxxxx@db/items"},
		{name: "env harmless", in: "BENCH_FAULTS=leak-goroutine", want: "BENCH_FAULTS=leak-goroutine"},
		{name: "literal secret", in: "signalling with a.b.c", secrets: []string{"a.b.c", ""}, want: "signalling with xxxxx"},
		{name: "idempotent", in: "password=xxxxx postgres://u:xxxxx@h", want: "password=xxxxx postgres://u:xxxxx@h"},
		{name: "several urls", in: "a http://u:p1@h b http://v:p2@k", want: "a http://u:xxxxx@h b http://v:xxxxx@k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in, tt.secrets...); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestValue checks that every string of a nested value is redacted in a copy; the original and
// every other field stay as they were.
func TestValue(t *testing.T) {
	type event struct{ Detail string }
	type run struct {
		At      time.Time
		N       int
		Values  map[string]string
		Events  []event
		Ptr     *event
		Any     any
		private string
	}
	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	in := run{At: at, N: 7, Values: map[string]string{"database-url": "host=h password=s1"},
		Events: []event{{"token=s2"}}, Ptr: &event{"http://u:s3@h"}, Any: "s4 key=s4", private: "password=s5"}
	out := Value(in)
	got := strings.Join([]string{out.Values["database-url"], out.Events[0].Detail, out.Ptr.Detail, out.Any.(string)}, " | ")
	want := "host=h password=xxxxx | token=xxxxx | http://u:xxxxx@h | s4 key=xxxxx"
	if got != want || !out.At.Equal(at) || out.N != 7 {
		t.Errorf("Value = %q (at %v, n %d), want %q", got, out.At, out.N, want)
	}
	if in.Values["database-url"] != "host=h password=s1" || in.Events[0].Detail != "token=s2" || in.Ptr.Detail != "http://u:s3@h" {
		t.Errorf("Value changed its argument: %+v", in)
	}
}
