// Package telemetry sets up the server's observability: the OpenTelemetry tracer provider
// (exporter and sampler from the standard OTEL_* settings, default exporter none), the W3C
// propagators, the Prometheus registry with the Go and process collectors, the server_state and
// server_build_info gauges, and the admin listener's mux (/metrics, /healthz, /readyz, pprof).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultServiceName is the service.name when OTEL_SERVICE_NAME is unset.
const DefaultServiceName = "items-server"

// Tracing is the tracer provider and propagator the HTTP and database layers use. It is passed
// explicitly, never installed as the OTel global.
type Tracing struct {
	Provider   *sdktrace.TracerProvider
	Propagator propagation.TextMapPropagator
	// Exporter names the span exporter in use ("none" when spans are not exported).
	Exporter string
}

// SettingError names the OTEL_* setting that is invalid; the caller maps it to exit code 2.
type SettingError struct {
	Name, Value, Reason string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Name, e.Value, e.Reason)
}

// NewTracing builds the tracer provider from the OTEL_* settings read through getenv:
// OTEL_TRACES_EXPORTER (default none: with no collector there is nothing to retry),
// OTEL_TRACES_SAMPLER[_ARG] (default parentbased_always_on), OTEL_SERVICE_NAME. Other exporter
// settings (OTEL_EXPORTER_OTLP_*) are read by the exporter itself.
func NewTracing(ctx context.Context, getenv func(string) string, version string) (*Tracing, error) {
	sampler, err := parseSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"))
	if err != nil {
		return nil, err
	}
	name := getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = DefaultServiceName
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", name),
			attribute.String("service.version", version),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("build trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	exporter := getenv("OTEL_TRACES_EXPORTER")
	switch exporter {
	case "", "none":
		// No span processor at all: sampled spans are recorded and dropped, nothing is queued
		// and nothing dials a collector. Trace ids are still generated for traceresponse.
		exporter = "none"
	default:
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, &SettingError{Name: "OTEL_TRACES_EXPORTER", Value: exporter, Reason: err.Error()}
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			opts = append(opts, sdktrace.WithBatcher(exp, batchOptions(getenv)...))
		}
	}
	return &Tracing{
		Provider:   sdktrace.NewTracerProvider(opts...),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Exporter:   exporter,
	}, nil
}

// exportQueue is the span queue of the batch processor unless OTEL_BSP_MAX_QUEUE_SIZE says
// otherwise. The SDK's 2048 fills in about half a second of a ramp at a few thousand requests
// per second (two or three spans each) on a loaded machine, and the spans beyond it are
// dropped: with tail sampling deciding in the collector, a dropped span is a slow request's
// trace that cannot be kept. 16384 spans are a few MB at most.
const exportQueue = 16384

func batchOptions(getenv func(string) string) []sdktrace.BatchSpanProcessorOption {
	if getenv("OTEL_BSP_MAX_QUEUE_SIZE") != "" {
		return nil // the SDK reads it
	}
	return []sdktrace.BatchSpanProcessorOption{sdktrace.WithMaxQueueSize(exportQueue)}
}

// Shutdown flushes queued spans and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if err := t.Provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

func parseSampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" && (name == "traceidratio" || name == "parentbased_traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(r >= 0 && r <= 1) { // so that NaN fails too
			return nil, &SettingError{Name: "OTEL_TRACES_SAMPLER_ARG", Value: arg, Reason: "want a ratio between 0 and 1"}
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, &SettingError{Name: "OTEL_TRACES_SAMPLER", Value: name,
		Reason: "want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"}
}

// runtimeMetrics are the runtime/metrics exported beyond the Go collector's defaults, named one
// by one (the whole set would cost every scrape ~100 more series). The diagnosis reads
// scheduling latency and runnable goroutines (cpu), the GC's share of the CPU and its assists
// (gc), mutex wait (lock); a soak reads /gc/heap/live:bytes, the heap the last GC marked live,
// since the heap in use rises and falls with the garbage between collections.
// The compact page (compact.go) has the diagnosis's alone: it reads the live heap itself.
var (
	runtimeMetrics   = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/(` + diagnosisPattern + `|gc/heap/live:bytes)$`)}
	diagnosisMetrics = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/(` + diagnosisPattern + `)$`)}
)

const diagnosisPattern = `sched/latencies:seconds|sched/goroutines/runnable:goroutines|` +
	`cpu/classes/(gc/mark/(assist|idle)|gc/total|idle|total):cpu-seconds|sync/mutex/wait/total:seconds`

// NewRegistry returns a registry with the Go and process collectors and server_build_info.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(runtimeMetrics)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "server_build_info",
		Help: "Always 1; the labels say which build is running.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(info)
	return reg
}

// IsSettingError reports whether err names a bad setting.
func IsSettingError(err error) bool {
	var se *SettingError
	return errors.As(err, &se)
}
