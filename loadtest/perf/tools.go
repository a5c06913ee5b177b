package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// wrkResult is what one wrk run printed.
type wrkResult struct {
	Requests int     // completed requests
	Non2xx   int     // of which answered with a status outside 2xx/3xx
	Errors   int     // socket errors (connect, read, write, timeout)
	Rate     float64 // Requests/sec
}

// GoodRate is the rate of 2xx/3xx answers: wrk counts a 401 as a request like any other, and a
// round that measured fast refusals must not count as fast service.
func (r wrkResult) GoodRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return r.Rate * float64(r.Requests-r.Non2xx-r.Errors) / float64(r.Requests)
}

// parseWrk reads wrk's default report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	sawRate := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("parse wrk Requests/sec %q: %w", f[1], err)
			}
			r.Rate, sawRate = v, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			v, err := strconv.Atoi(f[0])
			if err != nil {
				return r, fmt.Errorf("parse wrk request count %q: %w", f[0], err)
			}
			r.Requests = v
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			v, err := strconv.Atoi(f[4])
			if err != nil {
				return r, fmt.Errorf("parse wrk non-2xx count %q: %w", f[4], err)
			}
			r.Non2xx = v
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				v, err := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				if err != nil {
					return r, fmt.Errorf("parse wrk socket errors %q: %w", line, err)
				}
				r.Errors += v
			}
		}
	}
	if !sawRate {
		return r, fmt.Errorf("wrk printed no Requests/sec line")
	}
	return r, nil
}

// parsePgbench returns the tps pgbench reports (excluding connection time) and its failed
// transaction count.
func parsePgbench(out string) (tps float64, failed int, err error) {
	saw := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[0] == "tps" && f[1] == "=":
			tps, err = strconv.ParseFloat(f[2], 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse pgbench tps %q: %w", f[2], err)
			}
			saw = true
		case len(f) >= 5 && f[0] == "number" && f[2] == "failed" && f[3] == "transactions:":
			failed, err = strconv.Atoi(f[4])
			if err != nil {
				return 0, 0, fmt.Errorf("parse pgbench failed count %q: %w", f[4], err)
			}
		}
	}
	if !saw {
		return 0, 0, fmt.Errorf("pgbench printed no tps line")
	}
	return tps, failed, nil
}

// vegetaReport is the part of `vegeta report -type=json` the figures use.
type vegetaReport struct {
	Requests    int            `json:"requests"`
	Rate        float64        `json:"rate"`
	Throughput  float64        `json:"throughput"`
	Success     float64        `json:"success"`
	StatusCodes map[string]int `json:"status_codes"`
}

func parseVegetaReport(b []byte) (vegetaReport, error) {
	var r vegetaReport
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("parse vegeta report: %w", err)
	}
	if r.Requests == 0 {
		return r, fmt.Errorf("vegeta report has no requests")
	}
	return r, nil
}
