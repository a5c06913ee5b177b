package sampler

import dto "github.com/prometheus/client_model/go"

// The names each signal goes by, in the order tried: ours first (the httpcount middleware and
// the items server), then the defaults of the common Go libraries (docs/design/
// harness-evidence.md, "Your own service in detail"). otelhttp exports no in-flight gauge and
// nothing counts cancels but httpcount.
func goroutineNames() []string {
	return []string{
		MetricGoroutines,                // client_golang's Go collector
		"go_goroutine_count",            // OTel runtime instrumentation (go.goroutine.count)
		"process_runtime_go_goroutines", // OTel runtime instrumentation before v0.61
	}
}

func inFlightNames() []string {
	return []string{
		MetricInFlight,                // httpcount
		"http_server_active_requests", // OTel semantic conventions (http.server.active_requests)
		"http_requests_in_flight",     // promhttp.InstrumentHandlerInFlight as commonly named
	}
}

// poolNames are a pool's acquired, idle, total and maximum connections: pgxpool's collector
// (IBM/pgxpoolprometheus, the items server), then client_golang's database/sql collector.
func poolNames() [][4]string {
	return [][4]string{
		{MetricPool, "pgxpool_idle_conns", "pgxpool_total_conns", "pgxpool_max_conns"},
		{"go_sql_in_use_connections", "go_sql_idle_connections", "go_sql_open_connections", "go_sql_max_open_connections"},
	}
}

// First returns the sum of the first of names that fams has, and that name ("" and 0: none).
func First(fams map[string]*dto.MetricFamily, names []string) (float64, string) {
	for _, n := range names {
		if _, ok := fams[n]; ok {
			return Sum(fams, n), n
		}
	}
	return 0, ""
}

// pool returns the first pool family set fams has (nil: none).
func pool(fams map[string]*dto.MetricFamily) []string {
	for _, p := range poolNames() {
		if _, ok := fams[p[0]]; ok {
			return p[:]
		}
	}
	return nil
}
