package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// serverData is what P1/P2's rounds measured beyond the figures themselves: the CPU each side
// spent per request, Jaeger's share of the machine and the spans it accepted. The findings and
// notes are rendered from it alone.
type serverData struct {
	// budget is the CPU µs per request of each measured side, per round: pgbench, bare, off, ...
	budget        map[string]*cpuBudget
	altOverTraced []float64 // alt / traced throughput per round (the -alt-* A/B)
	alt           string    // what alt is (Settings.Samplers["alt"])

	// Jaeger, over the measured rounds: its CPU seconds (-1 unknown), and the spans it accepted
	// against the traced server's requests (counters read before and after).
	jaegerCPU0, jaegerCPU           float64
	spans0, spans                   float64
	tracedRequests0, tracedRequests float64
	spansErr                        error
	tracedSeconds                   float64 // seconds of traced load in the measured rounds
}

func newServerData() *serverData {
	return &serverData{budget: map[string]*cpuBudget{}, jaegerCPU0: -1, jaegerCPU: -1}
}

// account adds one measured run of side id: its request count and the CPU seconds of the
// client tool, the service (-1: none, as for pgbench) and PostgreSQL (-1: unknown). It returns
// PostgreSQL's µs per request, -1 when unknown.
func (d *serverData) account(id string, requests int, client, service, pg float64) float64 {
	if requests <= 0 {
		return -1
	}
	b := d.budget[id]
	if b == nil {
		b = &cpuBudget{}
		d.budget[id] = b
	}
	n := float64(requests) / 1e6
	b.client = append(b.client, client/n)
	if service >= 0 {
		b.service = append(b.service, service/n)
	}
	if pg < 0 {
		return -1
	}
	b.pg = append(b.pg, pg/n)
	return pg / n
}

// startJaeger reads Jaeger's counters before the measured rounds.
func (d *serverData) startJaeger(ctx context.Context, set *serverSet) {
	if set.jaeger == nil || set.variant("traced") == nil {
		return
	}
	d.jaegerCPU0 = cpuSeconds(set.jaeger.PID())
	d.spans0, _ = set.jaeger.acceptedSpans(ctx)
	d.tracedRequests0, _ = exportedRequests(ctx, set)
}

// exportedRequests counts the requests served by the servers that record and export every
// request (traced, and alt when there is one): Jaeger's span counter holds the spans of both.
func exportedRequests(ctx context.Context, set *serverSet) (float64, error) {
	var n float64
	for _, id := range []string{"traced", "alt"} {
		if v := set.variant(id); v != nil {
			c, err := requestCount(ctx, v.srv.Admin())
			if err != nil {
				return n, err
			}
			n += c
		}
	}
	return n, nil
}

// p2aNotes say whether every traced request's spans reached Jaeger.
func (d *serverData) p2aNotes() []string {
	switch {
	case d.spansErr != nil:
		return []string{fmt.Sprintf("Could not count the spans Jaeger accepted: %v.", d.spansErr)}
	case d.tracedRequests > 0:
		return []string{fmt.Sprintf("Jaeger accepted %.2f spans per traced request (%.0f spans, %.0f requests of the 100 %%-sampled servers; 2 expected: the HTTP span and the query span). Fewer means spans were dropped and the figure flatters tracing.",
			d.spans/d.tracedRequests, d.spans, d.tracedRequests)}
	}
	return nil
}

// findings renders what the CPU data say.
func (d *serverData) findings() []string {
	var out []string
	if d.jaegerCPU >= 0 && d.tracedSeconds > 0 {
		out = append(out, fmt.Sprintf(
			"Jaeger runs on the same 2 cores: it used %.1f CPU-seconds during the rounds, %.0f %% of one core over the %.0f s of traced load "+
				"(the default and off variants export nothing). Part of P2a's cost is therefore the collector's, not the server's.",
			d.jaegerCPU, 100*d.jaegerCPU/d.tracedSeconds, d.tracedSeconds))
	}
	if s := d.serviceCPU(); s != "" {
		out = append(out, s)
	}
	if s := d.budgetLine(); s != "" {
		out = append(out, s)
	}
	if len(d.altOverTraced) > 0 {
		a := d.altOverTraced
		out = append(out, fmt.Sprintf("A/B in the same rounds: alt (%s) / traced = median %s× (%s – %s, %d rounds).",
			d.alt, trim(median(a)), trim(slices.Min(a)), trim(slices.Max(a)), len(a)))
	}
	return out
}

// serviceCPU is the services' own CPU per request and its ratios.
func (d *serverData) serviceCPU() string {
	var parts []string
	for _, id := range []string{"bare", "off", "traced", "default", "alt"} {
		if b := d.budget[id]; b != nil && len(b.service) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", id, median(b.service)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	r := func(a, b string) string {
		ba, bb := d.budget[a], d.budget[b]
		if ba == nil || bb == nil || len(ba.service) == 0 || len(bb.service) == 0 {
			return "–"
		}
		return trim(median(ba.service) / median(bb.service))
	}
	return fmt.Sprintf("Service CPU per request (µs, median over the rounds; steadier than throughput on a shared machine): %s. "+
		"CPU ratios: off/bare %s×, traced/off %s×, default/off %s×, alt/traced %s×.",
		strings.Join(parts, ", "), r("off", "bare"), r("traced", "off"), r("default", "off"), r("alt", "traced"))
}

// budgetLine compares the whole machine's CPU per request of pgbench, the bare handler and the
// server: when the two cores are the limit, throughput ratios follow the inverse totals.
func (d *serverData) budgetLine() string {
	pg, bare, off := d.budget["pgbench"], d.budget["bare"], d.budget["off"]
	if pg == nil || bare == nil || off == nil || len(pg.pg) == 0 || len(off.pg) == 0 || len(bare.pg) == 0 {
		return ""
	}
	return "CPU budget per request (µs, medians; client tool + service + PostgreSQL = total): " +
		pg.String("pgbench", false) + "; " + bare.String("bare handler", true) + "; " + off.String("server", true) +
		fmt.Sprintf(". When the two cores are the limit, throughput ratios follow the inverse totals: server/pgbench ≤ %s, bare/pgbench ≤ %s, server/bare ≤ %s.",
			trim(pg.total()/off.total()), trim(pg.total()/bare.total()), trim(bare.total()/off.total()))
}

// cpuBudget holds, per measured round, the CPU µs per request of the client tool, the service
// (none for pgbench) and PostgreSQL (postmaster and backends).
type cpuBudget struct{ client, service, pg []float64 }

func (b *cpuBudget) total() float64 {
	t := median(b.client) + median(b.pg)
	if len(b.service) > 0 {
		t += median(b.service)
	}
	return t
}

func (b *cpuBudget) String(name string, service bool) string {
	if service {
		return fmt.Sprintf("%s %.0f + %.0f + %.0f = %.0f", name, median(b.client), median(b.service), median(b.pg), b.total())
	}
	return fmt.Sprintf("%s %.0f + – + %.0f = %.0f", name, median(b.client), median(b.pg), b.total())
}
