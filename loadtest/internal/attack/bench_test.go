package attack

import (
	"io"
	"net/http"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/benchharness/benchharness/loadtest/internal/promexport"
)

// BenchmarkSink measures the engine's per-result cost: classify, live metrics, intended time,
// encode (to io.Discard, so the disk is not measured), aggregate, slowest-N heap. The attack
// runs at 1000 requests/s of simulated time and windows are flushed every simulated second, as
// Run's ticker does; the open-windows metric shows memory stays bounded however long it runs.
func BenchmarkSink(b *testing.B) {
	pacer := vegeta.ConstantPacer{Freq: 1000, Per: time.Second}
	began := time.Unix(1_700_000_000, 0)
	metrics := promexport.New()
	agg := newAggregator(began, 10, "http://jaeger", 5*time.Second+windowGrace)
	st := newStamper(pacer, began, 0, 1<<40)
	file := &resultsFile{enc: vegeta.NewEncoder(io.Discard)}
	fan := []Consumer{file, agg, ConsumerFunc(func(h *Hit) { metrics.Result("bench", h.Code, h.Class, h.Latency) })}
	var h Hit
	hdr := http.Header{"Traceresponse": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "Content-Type": {"application/json"}}
	body := []byte(`{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"page":1,"per_page":20}`)
	maxOpen := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		due, _ := IntendedOffset(pacer, uint64(i))
		r := vegeta.Result{
			Attack: "bench", Seq: uint64(i), Code: 200, Timestamp: began.Add(due + 50*time.Microsecond),
			Latency: time.Duration(1+i%97) * 100 * time.Microsecond, Method: http.MethodGet,
			URL: "http://127.0.0.1:8080/api/v1/items?per_page=20&page=1", Headers: hdr, Body: body,
		}
		if i%5 == 0 {
			r.Code, r.Error, r.Body = 0, `Get "http://127.0.0.1:8080/api/v1/items": EOF`, nil
		}
		st.stamp(&h, &r)
		for _, c := range fan {
			c.Add(&h)
		}
		if i%1000 == 999 {
			agg.Tick(r.Timestamp)
			maxOpen = max(maxOpen, len(agg.open))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(maxOpen), "open-windows")
}
