package main

import (
	"math"
	"testing"
)

const wrkOut = `Running 2s test @ http://127.0.0.1:41234/api/v1/items
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.10ms    2.01ms  30.12ms   80.00%
    Req/Sec     3.95k   300.00     4.50k    70.00%
  15800 requests in 2.00s, 40.10MB read
Requests/sec:   7900.00
Transfer/sec:     20.05MB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name     string
		out      string
		want     wrkResult
		wantGood float64
		wantErr  bool
	}{
		{name: "clean", out: wrkOut, want: wrkResult{Requests: 15800, Rate: 7900}, wantGood: 7900},
		{
			name: "refusals do not count as service",
			out: wrkOut[:len(wrkOut)-50] + "  Non-2xx or 3xx responses: 7900\n" +
				"  Socket errors: connect 0, read 0, write 0, timeout 3950\n" + wrkOut[len(wrkOut)-50:],
			want:     wrkResult{Requests: 15800, Non2xx: 7900, Errors: 3950, Rate: 7900},
			wantGood: 1975,
		},
		{name: "no rate line", out: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if g := got.GoodRate(); math.Abs(g-tt.wantGood) > 1e-9 {
				t.Errorf("GoodRate = %v, want %v", g, tt.wantGood)
			}
		})
	}
}

func TestParsePgbench(t *testing.T) {
	const out = `transaction type: select.sql
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 24000
number of failed transactions: 12 (0.050%)
latency average = 2.660 ms
initial connection time = 30.123 ms
tps = 12031.456789 (without initial connection time)
`
	tps, failed, err := parsePgbench(out)
	if err != nil || tps != 12031.456789 || failed != 12 {
		t.Errorf("got %v, %v, %v; want 12031.456789, 12, nil", tps, failed, err)
	}
	if _, _, err := parsePgbench("pgbench: error: connection refused\n"); err == nil {
		t.Error("no tps line: want an error")
	}
}

func TestParseVegetaReport(t *testing.T) {
	r, err := parseVegetaReport([]byte(`{"requests":100,"rate":50.5,"throughput":50,"success":1,"status_codes":{"200":100}}`))
	if err != nil || r.Requests != 100 || r.Throughput != 50 || r.StatusCodes["200"] != 100 {
		t.Errorf("got %+v, %v", r, err)
	}
	if _, err := parseVegetaReport([]byte(`{"requests":0}`)); err == nil {
		t.Error("empty report: want an error")
	}
}
