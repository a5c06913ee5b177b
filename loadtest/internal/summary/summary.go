// Package summary defines summary.json, the one machine-readable record of a bench run.
//
// The runner writes it, the report writers render from it alone, and compare reads two of
// them. Times are UTC; durations and latencies are float64 milliseconds (fields end in _ms)
// so that the JSON reads well without a Go duration parser. Bump SchemaVersion on any change
// that an older reader would misread.
package summary

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/benchharness/benchharness/loadtest/events"
	"github.com/benchharness/benchharness/loadtest/internal/atomicfile"
)

// SchemaVersion is the version of the summary.json layout this package writes. Read also takes
// version 1, whose checks said "invalids": true for a validity check and "kind": "" for a
// correctness one (see Check.UnmarshalJSON), and version 2, which had no like-for-like key,
// commit time, CPU model or GOMAXPROCS (LikeOf builds the key from what it has).
const SchemaVersion = 3

// Verdict is the outcome of a scenario or of a whole run.
type Verdict string

// The verdicts, from best to worst for a run's overall verdict.
const (
	Pass        Verdict = "PASS"
	Skipped     Verdict = "SKIPPED"     // not run: the target cannot support it (e.g. no signals)
	Invalid     Verdict = "INVALID"     // the generator fell behind; the numbers do not judge the server
	Fail        Verdict = "FAIL"        // an assertion failed
	Interrupted Verdict = "INTERRUPTED" // Ctrl-C or a crash cut the scenario short
)

// Run is the root of summary.json.
type Run struct {
	SchemaVersion int         `json:"schema_version"`
	ID            string      `json:"id"` // the run folder's name, e.g. 20261125T021400Z
	StartedAt     time.Time   `json:"started_at"`
	FinishedAt    time.Time   `json:"finished_at"`
	Verdict       Verdict     `json:"verdict"`
	Partial       bool        `json:"partial"`                  // true when interrupted or a scenario was cut short
	PartialReason string      `json:"partial_reason,omitempty"` // why, e.g. "interrupted by SIGINT"
	Env           Environment `json:"env"`
	Settings      Settings    `json:"settings"`
	// Like is the like-for-like key: runs whose keys differ are not compared or put in one
	// series (nil in runs of schema ≤ 2: use LikeOf).
	Like      *Like      `json:"like,omitempty"`
	Scenarios []Scenario `json:"scenarios"`
}

// Environment says where and on what the run happened.
type Environment struct {
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
	// CommitTime is the commit's time (vcs.time of the build; zero when not recorded): history
	// orders runs by it.
	CommitTime time.Time `json:"commit_time,omitzero"`
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	NumCPU     int       `json:"num_cpu"`
	CPUModel   string    `json:"cpu_model,omitempty"`  // /proc/cpuinfo's model name; empty when unknown
	GOMAXPROCS int       `json:"gomaxprocs,omitempty"` // the harness's, or the server's when -server-env sets it
	Target     string    `json:"target"`               // the API base URL
	Admin      string    `json:"admin"`                // the admin base URL
	ManagedBy  string    `json:"managed_by"`           // "harness" when the harness started the server, "external" otherwise
	JaegerURL  string    `json:"jaeger_url"`           // base for trace links; empty when none
	ServerInfo string    `json:"server_info"`          // version line from server_build_info, when read
	// Workers are the load generators the attack was spread over (loadtest run -workers), in
	// shard order; empty when the harness sent it itself.
	Workers []string `json:"workers,omitempty"`
}

// Settings are the knobs the run used, as given (after defaults).
type Settings struct {
	Profile      string             `json:"profile"` // "default", "quick", ...
	Scenarios    []string           `json:"scenarios"`
	Seed         int64              `json:"seed"`
	TraceSample  float64            `json:"trace_sample"` // share of requests sent with a sampled traceparent
	SLOP99Ms     float64            `json:"slo_p99_ms"`
	MaxErrorRate float64            `json:"max_error_rate"`
	Values       map[string]string  `json:"values,omitempty"` // every other setting, flag name → value
	Rates        map[string]float64 `json:"rates,omitempty"`  // scenario → target rate (requests/s)
}

// Scenario is one scenario's figures, checks and verdict.
type Scenario struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Verdict     Verdict  `json:"verdict"`
	Reasons     []string `json:"reasons,omitempty"` // one line per failed check or invalidity, verdict-first
	Checks      []Check  `json:"checks"`
	// Diagnosis names why a FAIL or INVALID happened (empty on PASS): one or more causes,
	// each with the figures that named it, or one "unknown".
	Diagnosis  []Cause   `json:"diagnosis,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	DurationMs float64   `json:"duration_ms"` // attack duration, warm-up excluded
	WarmupMs   float64   `json:"warmup_ms"`

	TargetRate   float64          `json:"target_rate"`   // requests/s asked for
	AchievedRate float64          `json:"achieved_rate"` // requests/s actually sent
	Throughput   float64          `json:"throughput"`    // successful responses/s
	Requests     int64            `json:"requests"`
	Successes    int64            `json:"successes"`
	SuccessRatio float64          `json:"success_ratio"`
	ErrorRatio   float64          `json:"error_ratio"`
	StatusCodes  map[string]int64 `json:"status_codes"`  // "200" → n, "0" for transport errors
	ErrorClasses map[string]int64 `json:"error_classes"` // class → n (see docs/contracts.md)

	Latency         Latencies `json:"latency"`          // from the actual send time
	LatencyIntended Latencies `json:"latency_intended"` // from the intended send time (coordinated omission shown)
	SendLateness    Latencies `json:"send_lateness"`    // actual − intended send time

	Windows  []Window  `json:"windows"`  // per-second figures: plots and compare's samples
	Timeline []Sample  `json:"timeline"` // server-side sampler points
	Events   []Event   `json:"events"`
	Slowest  []Request `json:"slowest"` // slowest N requests, slowest first
	Lost     []Request `json:"lost"`    // accepted then lost (shutdown)
	// Workers is each load generator's part of a distributed attack (loadtest run -workers);
	// every other figure is from the merged results.
	Workers []Worker `json:"workers,omitempty"`

	Profiles []Profile `json:"profiles,omitempty"`
	// Profiled is when the profiles were captured: in the warm-up, ended before the counted
	// requests began, since writing them pauses the server.
	Profiled *Span      `json:"profiled,omitempty"`
	TopCPU   []Function `json:"top_cpu,omitempty"`

	Cancel   *CancelStats   `json:"cancel,omitempty"`
	Shutdown *ShutdownStats `json:"shutdown,omitempty"`
	Deploy   *DeployStats   `json:"deploy,omitempty"`
	Ramp     *RampStats     `json:"ramp,omitempty"`
	Soak     *SoakStats     `json:"soak,omitempty"`

	Server ServerStats `json:"server"`        // peaks and settle figures from the sampler
	Net    *NetStats   `json:"net,omitempty"` // the kernel's figures; nil: not read (a remote server)
	// Contention is how long the benchmark's own threads waited for a CPU during the attack
	// (nil: not measured, the server or its database not on this machine).
	Contention *Contention `json:"contention,omitempty"`
	// Signals are what the scenario's server exposed to be judged by (nil: not recorded,
	// summaries written before they were).
	Signals *Signals `json:"signals,omitempty"`

	Files map[string]string `json:"files,omitempty"` // kind → file name in the run folder ("results", "timeline", ...)
}

// Check is one assertion: what was wanted, what was seen, whether it held, and what its failure
// means for the verdict (Kind).
type Check struct {
	Name string    `json:"name"`
	Pass bool      `json:"pass"`
	Want string    `json:"want"`
	Got  string    `json:"got"`
	Kind CheckKind `json:"kind"`
	// NotMeasured marks a check the harness cannot make where it ran, by design (the exit code of
	// a server it did not start). Pass is true, so it decides nothing; reports say "not measured"
	// instead of a pass.
	NotMeasured bool `json:"not_measured,omitempty"`
}

// CheckKind is what a failed check means; Judge turns a scenario's checks into its verdict.
type CheckKind string

// The kinds of check.
const (
	// Correctness marks a check of whether the server did something wrong (a lost request, a
	// missing write, a leak, an unclean exit). A failure FAILS the scenario whatever else happened.
	Correctness CheckKind = "correctness"
	// Validity marks a check that the measurement itself held (the generator kept up, the data
	// was there). A failure makes the scenario INVALID: its figures judge nothing.
	Validity CheckKind = "validity"
	// Performance marks a check of an absolute latency, error-ratio or capacity objective. A
	// failure FAILS a valid scenario; compare judges these by its statistics rather than as
	// correctness.
	Performance CheckKind = "performance"
)

// NewCheck builds a Check.
func NewCheck(kind CheckKind, name string, pass bool, want, got string) Check {
	return Check{Name: name, Pass: pass, Want: want, Got: got, Kind: kind}
}

// kind is Kind, with anything unknown (a zero Check) as Correctness: without a word on what a
// failure means, it is the server's failure.
func (c Check) kind() CheckKind {
	if c.Kind == Validity || c.Kind == Performance {
		return c.Kind
	}
	return Correctness
}

// UnmarshalJSON reads a check of either schema: version 1 had "invalids": true for validity
// checks and an empty kind for correctness ones.
func (c *Check) UnmarshalJSON(b []byte) error {
	type plain Check
	var v struct {
		plain
		Invalids bool `json:"invalids"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = Check(v.plain)
	switch {
	case v.Invalids:
		c.Kind = Validity
	case c.Kind == "":
		c.Kind = Correctness
	}
	return nil
}

// Judge returns the verdict of a scenario's checks and the reasons behind it. A failed
// correctness check FAILS it whatever else happened. Otherwise a failed validity check makes it
// INVALID, since figures measured by a struggling client judge nothing; then a failed performance
// objective FAILS it. Reasons list the checks that decided the verdict first, then the other
// failures, one line each.
func Judge(checks []Check) (Verdict, []string) {
	failed := map[CheckKind]bool{}
	for _, c := range checks {
		if !c.Pass {
			failed[c.kind()] = true
		}
	}
	verdict, deciding := Pass, CheckKind("")
	switch {
	case failed[Correctness]:
		verdict, deciding = Fail, Correctness
	case failed[Validity]:
		verdict, deciding = Invalid, Validity
	case failed[Performance]:
		verdict, deciding = Fail, Performance
	}
	var reasons []string
	for _, first := range []bool{true, false} {
		for _, c := range checks {
			if c.Pass || (c.kind() == deciding) != first {
				continue
			}
			reasons = append(reasons, fmt.Sprintf("%s: got %s, want %s", c.Name, c.Got, c.Want))
		}
	}
	return verdict, reasons
}

// Cause is one reason for a FAIL or INVALID, from a fixed vocabulary (the Cause* names), with
// the evidence that named it.
type Cause struct {
	Name     string             `json:"cause"`
	Evidence string             `json:"evidence"`          // the figures, one line
	Figures  map[string]float64 `json:"figures,omitempty"` // the same figures, by name
}

// The causes a diagnosis may name (docs/harness.md says what each one rests on).
const (
	CausePool        = "pool"         // the server's connection pool was the bottleneck
	CauseCPU         = "cpu"          // the server's own work used its CPUs
	CauseGC          = "gc"           // the garbage collector took the server's CPU
	CauseLock        = "lock"         // goroutines waited on a mutex
	CauseDatabase    = "database"     // PostgreSQL made the queries wait (Lock, IO)
	CauseAcceptQueue = "accept-queue" // connections overflowed or were reset at the listen queue
	CauseGenerator   = "generator"    // the harness sent late while the server answered in time
	CauseNeighbour   = "neighbour"    // other processes delayed the benchmark's threads
	CauseLeak        = "leak"         // goroutines or connections did not come back
	CauseUnknown     = "unknown"      // no rule matched: the figures are given as they were
)

// String is "cause (evidence)", the form the printed table and the reports use.
func (c Cause) String() string {
	if c.Evidence == "" {
		return c.Name
	}
	return c.Name + " (" + c.Evidence + ")"
}

// Latencies is a latency distribution in milliseconds.
type Latencies struct {
	Min  float64 `json:"min_ms"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// Window is one fixed time window (normally one second) of a scenario's attack.
type Window struct {
	StartMs    float64 `json:"start_ms"` // offset from the scenario's start
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Rate       float64 `json:"rate"`       // requests sent per second in the window
	Throughput float64 `json:"throughput"` // successes per second in the window
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
}

// Sample is one reading of the server's metrics and PostgreSQL's activity.
type Sample struct {
	OffsetMs      float64 `json:"offset_ms"` // from the scenario's start
	Goroutines    float64 `json:"goroutines"`
	HeapBytes     float64 `json:"heap_bytes"`
	InFlight      float64 `json:"in_flight"`
	PoolAcquired  float64 `json:"pool_acquired"`
	PoolIdle      float64 `json:"pool_idle"`
	PoolTotal     float64 `json:"pool_total"`
	PoolMax       float64 `json:"pool_max"`           // pgxpool_max_conns: the pool's size
	Cancelled     float64 `json:"cancelled"`          // http_server_requests_cancelled_total, summed
	Accepted      float64 `json:"accepted,omitempty"` // http_server_requests_accepted_total: handlers started
	DBActive      float64 `json:"db_active"`          // pg_stat_activity state='active' for the server's queries
	DBSleeping    float64 `json:"db_sleeping"`        // of which pg_sleep (bench delay)
	ServerState   string  `json:"server_state"`       // ready / draining / stopped / "" when unreachable
	ScrapeFailed  bool    `json:"scrape_failed"`      // /metrics could not be read
	DBQueryFailed bool    `json:"db_query_failed"`    // pg_stat_activity could not be read

	// What the diagnosis reads (0 when the server does not export it). The _total fields are
	// cumulative counters: a span's figure is the difference of two samples.
	DBLockWaits float64 `json:"db_lock_waits,omitempty"` // the server's sessions waiting on a Lock
	DBIOWaits   float64 `json:"db_io_waits,omitempty"`   // ... on IO
	// DBWaits counts the server's active sessions by "wait_event_type:wait_event" (e.g.
	// "Lock:transactionid": 3); an active session with no wait event is on CPU and not counted.
	DBWaits map[string]int `json:"db_waits,omitempty"`
	// PoolWaitTotal is pgxpool_acquire_duration_seconds_total: the time acquires waited.
	PoolWaitTotal float64 `json:"pool_wait_total_s,omitempty"`
	Runnable      float64 `json:"runnable,omitempty"` // go_sched_goroutines_runnable_goroutines
	// SchedP99Ms is the p99 of the Go scheduler's latency (go_sched_latencies_seconds) since
	// the previous sample: the time runnable goroutines waited for a thread.
	SchedP99Ms float64 `json:"sched_p99_ms,omitempty"`
	// The Go runtime's CPU classes (GOMAXPROCS-seconds, updated at each GC) and mutex wait.
	GoCPUTotal      float64 `json:"go_cpu_total_s,omitempty"`
	GoCPUIdleTotal  float64 `json:"go_cpu_idle_total_s,omitempty"`
	GCCPUTotal      float64 `json:"gc_cpu_total_s,omitempty"`
	GCAssistTotal   float64 `json:"gc_assist_total_s,omitempty"`
	GCIdleMarkTotal float64 `json:"gc_idle_mark_total_s,omitempty"` // GC work on otherwise idle CPUs
	MutexWaitTotal  float64 `json:"mutex_wait_total_s,omitempty"`
	// The soak's resources (0 and left out when not read): the live heap after the last GC
	// (go_gc_heap_live_bytes), the process's resident memory and open file descriptors (from
	// /proc when the harness started it, else process_resident_memory_bytes and
	// process_open_fds), the API's open connections (http_server_open_connections) and every
	// PostgreSQL session of the server, idle ones included.
	HeapLiveBytes float64    `json:"heap_live_bytes,omitempty"`
	RSSBytes      float64    `json:"rss_bytes,omitempty"`
	OpenFDs       float64    `json:"open_fds,omitempty"`
	OpenConns     float64    `json:"open_conns,omitempty"`
	DBSessions    float64    `json:"db_sessions,omitempty"`
	Net           *NetSample `json:"net,omitempty"` // the kernel's view of the API port; nil: not read
}

// NetSample is what the kernel held on the server's API port at one sample (loadtest/internal/netsig).
type NetSample struct {
	AcceptQueue float64 `json:"accept_queue"` // connections completed, not yet accepted (ss -lnt Recv-Q), summed over its listeners
	AcceptLimit float64 `json:"accept_limit"` // the listen backlog (ss -lnt Send-Q)
	Listeners   int     `json:"listeners"`    // listening sockets on the port (0: closed)
	// Queues are the listeners one by one (two during a SO_REUSEPORT handoff), told apart by
	// their socket inode (netsig.Diag.Listeners maps a process to its own).
	Queues []NetQueue `json:"queues,omitempty"`
	// States counts the connections on the port by TCP state (ESTABLISHED, TIME_WAIT, ...),
	// the ones waiting in the accept queue included. Read with the server's pages (once a second
	// during an attack, every sample around events); absent from the samples between.
	States map[string]int `json:"states,omitempty"`
	Failed bool           `json:"failed,omitempty"` // the dump failed
}

// NetQueue is one listening socket's accept queue.
type NetQueue struct {
	Addr  string `json:"addr"`
	Inode uint32 `json:"inode"`
	Queue uint32 `json:"queue"`
	Limit uint32 `json:"limit"`
}

// NetStats are a scenario's kernel figures (loadtest/internal/netsig).
type NetStats struct {
	// SharedNamespace: the server ran in the harness's network namespace, so the counters are
	// the machine's and include other traffic.
	SharedNamespace  bool    `json:"shared_namespace"`
	AcceptQueuePeak  float64 `json:"accept_queue_peak"`
	AcceptQueueLimit float64 `json:"accept_queue_limit"`
	// Counters are TcpExt/Tcp counter deltas from the server's start to the settle reading
	// (ListenOverflows, ListenDrops, OutRsts, EstabResets, ...).
	Counters map[string]int64 `json:"counters,omitempty"`
	Error    string           `json:"error,omitempty"` // why the counters are missing
}

// Signals are where the server's own side was read and which figures it gave: the checks
// that need a figure it does not expose are listed "not available" instead of judged.
type Signals struct {
	MetricsURL string `json:"metrics_url,omitempty"` // Prometheus text exposition; "" none found
	PprofURL   string `json:"pprof_url,omitempty"`   // base of /debug/pprof; "" none found
	ReadyURL   string `json:"ready_url,omitempty"`   // answered 2xx when ready; "" none found
	// Goroutines is where the goroutine count came from: "go_goroutines" (metrics, under that
	// or a library's default name), "pprof" (the goroutine profile's total), or "" (none).
	Goroutines string `json:"goroutines,omitempty"`
	InFlight   bool   `json:"in_flight"` // http_server_requests_in_flight or a library's name
	Cancelled  bool   `json:"cancelled"` // http_server_requests_cancelled_total
	Accepted   bool   `json:"accepted"`  // http_server_requests_accepted_total
	Pool       bool   `json:"pool"`      // pgxpool's or database/sql's collector
	Database   bool   `json:"database"`  // pg_stat_activity filtered on the server's application_name
}

// Event is a marked moment on a scenario's timeline.
type Event struct {
	OffsetMs float64 `json:"offset_ms"`
	Name     string  `json:"name"` // one of the Event* names
	Detail   string  `json:"detail,omitempty"`
}

// The names of timeline events, from package events (the dashboards read them too).
const (
	EventStart          = events.Start
	EventEnd            = events.End
	EventSigterm        = events.Sigterm
	EventCancelWave     = events.CancelWave
	EventSignalCmd      = events.SignalCmd
	EventReadyz503      = events.Readyz503
	EventListenerClosed = events.ListenerClosed
	EventAdminClosed    = events.AdminClosed
	EventExit           = events.Exit
	EventCrash          = events.Crash
	EventSuccessor      = events.Successor
	EventSuccessorReady = events.SuccessorReady
)

// Request is one result worth a line in the report.
type Request struct {
	OffsetMs  float64 `json:"offset_ms"` // send time from the scenario's start
	Method    string  `json:"method"`
	URL       string  `json:"url"`
	Code      int     `json:"code"`
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	Class     string  `json:"class,omitempty"` // error class or shutdown class
	TraceID   string  `json:"trace_id,omitempty"`
	Sampled   bool    `json:"sampled"`
	TraceURL  string  `json:"trace_url,omitempty"` // only when sampled and a Jaeger URL is set
	// TraceFound records whether Jaeger held the trace when the harness asked after the run (nil:
	// not asked). A link that did not resolve is removed (loadtest/internal/jaeger.Mark).
	TraceFound *bool `json:"trace_found,omitempty"`
}

// Worker is one load generator's part of a distributed attack: what it sent of its share of the
// schedule, how late, and how its clock was corrected.
type Worker struct {
	Addr      string `json:"addr"`      // its control address (host:port)
	Shard     int    `json:"shard"`     // it sent the hits whose sequence number ≡ shard (mod the number of workers)
	Scheduled int64  `json:"scheduled"` // its hits in the counted window (−1: pacer schedule unknown)
	Requests  int64  `json:"requests"`  // counted
	Errors    int64  `json:"errors"`
	// AchievedRate is its counted requests per second.
	AchievedRate      float64 `json:"achieved_rate"`
	SendLatenessP99Ms float64 `json:"send_lateness_p99_ms"`
	// FirstSendLateMs is its first hit's actual − intended send time on the coordinator's
	// timeline, signed: the spread across workers is the start skew.
	FirstSendLateMs float64 `json:"first_send_late_ms"`
	// ClockOffsetMs is its clock minus the coordinator's, measured before the attack; the
	// start time it was sent is corrected by it.
	ClockOffsetMs float64 `json:"clock_offset_ms"`
	// ClockUncertaintyMs bounds the offset's error: half the round trip of the exchange that
	// measured it (the quickest of several).
	ClockUncertaintyMs float64 `json:"clock_uncertainty_ms"`
	PeakInFlight       int64   `json:"peak_in_flight"`
	Lost               string  `json:"lost,omitempty"` // why it stopped answering mid-attack; empty when it did not
}

// Span is a stretch of a scenario's timeline.
type Span struct {
	StartMs float64 `json:"start_ms"`
	EndMs   float64 `json:"end_ms"`
}

// Profile is a pprof file captured from the admin port.
type Profile struct {
	Kind string `json:"kind"` // cpu, heap, goroutine, mutex, block
	File string `json:"file"`
	// Rate is the request rate while a CPU profile was taken, when it is not the scenario's
	// achieved rate (the ramp's is of its held step); 0: the scenario's.
	Rate float64 `json:"rate,omitempty"`
}

// Function is one line of a CPU profile's top list.
type Function struct {
	Name    string  `json:"name"`
	FlatMs  float64 `json:"flat_ms"`
	FlatPct float64 `json:"flat_pct"`
	CumMs   float64 `json:"cum_ms"`
	CumPct  float64 `json:"cum_pct"`
}

// ServerStats are the sampler's headline figures for a scenario.
type ServerStats struct {
	GoroutinesBaseline float64 `json:"goroutines_baseline"` // before the attack
	GoroutinesPeak     float64 `json:"goroutines_peak"`
	GoroutinesAfter    float64 `json:"goroutines_after"` // after the settle time
	HeapPeakBytes      float64 `json:"heap_peak_bytes"`
	PoolAcquiredPeak   float64 `json:"pool_acquired_peak"`
	PoolMaxConns       float64 `json:"pool_max_conns"` // the server's pool size (pgxpool_max_conns)
	DBActivePeak       float64 `json:"db_active_peak"`
	SettleMs           float64 `json:"settle_ms"` // end of attack → goroutines back at baseline (−1: never)
	// CPUPerRequestUs is the CPU time the server's process ran during the attack per request
	// sent (µs; 0 when not measured: an external target, or a server that exited).
	CPUPerRequestUs float64 `json:"cpu_per_request_us,omitempty"`
	// HarnessCPUPerRequestUs is this harness's own CPU time over the same span per request: the
	// reference that a machine's speed of the moment moves alike (see docs/compare.md).
	HarnessCPUPerRequestUs float64 `json:"harness_cpu_per_request_us,omitempty"`
}

// Contention is the run-queue delay of the benchmark's own threads (the server's, its
// PostgreSQL backends', the harness's) over the counted attack, from each thread's schedstat:
// only threads that ran in a span count, so idle threads never add to it.
type Contention struct {
	ServerWaitMs   float64 `json:"server_wait_ms"`
	DatabaseWaitMs float64 `json:"database_wait_ms"`
	HarnessWaitMs  float64 `json:"harness_wait_ms"`
	RunMs          float64 `json:"run_ms"` // the CPU time those threads ran
	// PerRequestWaitMs is the three waits summed per request counted.
	PerRequestWaitMs float64 `json:"per_request_wait_ms"`
	// Share is wait / (wait + run): of the time our threads wanted a CPU, the part they waited.
	Share float64 `json:"share"`
	// ForeignCPUs is the CPU that processes outside the benchmark ran, in CPUs' worth.
	ForeignCPUs float64 `json:"foreign_cpus"`
	CPUs        int     `json:"cpus"` // the machine's
	// SchedLatency is the server's Go scheduling latency (runnable to running, from its
	// go_sched_latencies_seconds histogram) over the attack; nil when it exports none.
	SchedLatency *SchedLatency      `json:"sched_latency,omitempty"`
	Windows      []ContentionWindow `json:"windows"`
	Neighbour    Neighbour          `json:"neighbour"`
}

// SchedLatency is a scheduling-latency distribution, each figure the upper bound of its
// histogram bucket.
type SchedLatency struct {
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// ContentionWindow is Contention over one of the scenario's windows (same StartMs).
type ContentionWindow struct {
	StartMs          float64 `json:"start_ms"`
	ServerWaitMs     float64 `json:"server_wait_ms"`
	DatabaseWaitMs   float64 `json:"database_wait_ms"`
	HarnessWaitMs    float64 `json:"harness_wait_ms"`
	RunMs            float64 `json:"run_ms"`
	Requests         int64   `json:"requests"`
	PerRequestWaitMs float64 `json:"per_request_wait_ms"`
	ForeignCPUs      float64 `json:"foreign_cpus"`
	// NicedCPUs is the part of ForeignCPUs processes at least 10 nice levels below the harness,
	// in its scheduling group, ran: they get a CPU only when ours do not want it, so the
	// neighbour rule leaves them out (contention.NicedGap).
	NicedCPUs float64 `json:"niced_cpus,omitempty"`
	// DelayPerRunMs is, per role, the mean run-queue delay each time one of its threads was
	// given a CPU (server, database, harness): the delay one wake-up on a request's path adds.
	DelayPerRunMs [3]float64 `json:"delay_per_run_ms"`
	// PathDelayMs is the run-queue delay a request's path accrued: the neighbour rule's figure
	// (docs/harness.md).
	PathDelayMs float64 `json:"path_delay_ms"`
	// PeakDelayPerRunMs is, per role, the highest delay per run the neighbour rule reads in a
	// reading (250 ms) that overlaps the window: the worst thread's mean for the server and the
	// database, the harness's mean over its threads. A burst the second's mean dilutes shows whole.
	PeakDelayPerRunMs [3]float64 `json:"peak_delay_per_run_ms"`
	SchedP99Ms        float64    `json:"sched_p99_ms,omitempty"` // the server's Go scheduling latency p99 (0: not read)
	P99Ms             float64    `json:"p99_ms"`                 // the window's latency p99
	// Sched is the server's Go scheduling-latency histogram accrued in the window (nil: not
	// read): the tail of the waits a request's goroutines met, which a mean per run hides.
	Sched *SchedHistogram `json:"sched,omitempty"`
}

// SchedHistogram is a cumulative histogram of goroutine wake-up latencies: Counts[i] wake-ups
// waited ≤ BoundsMs[i] (finite bounds only: JSON has no +Inf), Total counts them all.
type SchedHistogram struct {
	BoundsMs []float64 `json:"bounds_ms"`
	Counts   []uint64  `json:"counts"`
	Total    uint64    `json:"total"`
}

// Neighbour is what the contention check found: the run-queue delay the slowest requests met
// on their path, against the judged p99. A diagnosis reads it.
type Neighbour struct {
	JudgedMs float64 `json:"judged_ms"`
	// SlowWaitMs is the rule's figure (docs/harness.md): the wait at least two of the slowest
	// requests met on their path, each its largest over the readings it overlapped (the worst
	// thread's mean delay per run for the server and its PostgreSQL backends, the harness's mean),
	// which SlowAtMs (the send time of the request that sets it), SlowRole and SlowForeignCPUs
	// (what others ran in its window, SlowNicedCPUs of it niced) place. LimitMs is what it is
	// held against: -max-neighbour-share times the judged p99. SlowRequestsSeen counts the
	// slowest requests looked at.
	SlowWaitMs       float64 `json:"slow_wait_ms"`
	SlowAtMs         float64 `json:"slow_at_ms"`
	SlowRole         string  `json:"slow_role,omitempty"`
	SlowForeignCPUs  float64 `json:"slow_foreign_cpus"`
	SlowNicedCPUs    float64 `json:"slow_niced_cpus,omitempty"`
	SlowRequestsSeen int     `json:"slow_requests_seen"`
	LimitMs          float64 `json:"limit_ms"`
	// SlowOurCPUs is what the benchmark's threads ran in that second: with the others, how
	// crowded the machine of CPUs was.
	SlowOurCPUs float64 `json:"slow_our_cpus"`
	CPUs        int     `json:"cpus"`
	// SendWaitMs is the harness's send lateness p99: the wait one wake-up in a hundred met.
	// SendLimitMs is what it is held against: LimitMs, or the floor of this machine's own
	// wake-up tail when higher. OurCPUs and CompetingCPUs are what our threads and others
	// (niced peers left out) ran over the attack.
	SendWaitMs    float64 `json:"send_wait_ms"`
	SendLimitMs   float64 `json:"send_limit_ms"`
	OurCPUs       float64 `json:"our_cpus"`
	CompetingCPUs float64 `json:"competing_cpus"`
	// MovedBy is which wait moved it: "slow" (SlowWaitMs) or "send" (SendWaitMs); "" when not
	// moved.
	MovedBy string `json:"moved_by,omitempty"`
	// Reported, not judged: the window that holds the p99 (the highest), the path delay there
	// and the highest of its PeakDelayPerRunMs.
	WindowStartMs   float64 `json:"window_start_ms"`
	RunQueueDelayMs float64 `json:"run_queue_delay_ms"`
	PeakDelayMs     float64 `json:"peak_delay_ms"`
	// Reported, not judged (docs/harness.md): the wait that moves the judged figure by the
	// share (the histogram bound at or above it), the share of the server's goroutine wake-ups
	// that waited longer, and the share of requests that met at least one such wake-up.
	TailWaitMs   float64 `json:"tail_wait_ms,omitempty"`
	SlowWakeups  float64 `json:"slow_wakeups,omitempty"`
	SlowRequests float64 `json:"slow_requests,omitempty"`
	// Moved: the delay was enough to move the judged figure, and the check said INVALID.
	Moved bool `json:"moved"`
}

// CancelStats are the figures of the client-cancel scenario.
type CancelStats struct {
	CancelsSent       int64   `json:"cancels_sent"`         // client timeouts on delayed requests
	CancelsSeen       int64   `json:"cancels_seen"`         // rise of the server's cancelled counter (−1: not available)
	CleanupMs         float64 `json:"cleanup_ms"`           // last cancel → no cancelled query in pg_stat_activity (−1: never)
	StillRunning      int64   `json:"still_running"`        // cancelled queries still in PostgreSQL after the settle time (−1: not available)
	PoolAcquiredAfter float64 `json:"pool_acquired_after"`  // after the settle time
	GoroutinesLeaked  float64 `json:"goroutines_leaked"`    // after − baseline
	NonCancelledP99Ms float64 `json:"non_cancelled_p99_ms"` // p99 of the requests that were not meant to be cancelled
	DelayMs           float64 `json:"delay_ms"`
	ClientTimeoutMs   float64 `json:"client_timeout_ms"`
	CancelShare       float64 `json:"cancel_share"`
}

// ShutdownStats are the figures of the shutdown scenario.
type ShutdownStats struct {
	SigtermOffsetMs   float64          `json:"sigterm_offset_ms"`
	ReadyzFlipMs      float64          `json:"readyz_flip_ms"`     // SIGTERM → first /readyz 503 (−1: never seen)
	ListenerClosedMs  float64          `json:"listener_closed_ms"` // SIGTERM → first connection refused (−1: never seen)
	DrainMs           float64          `json:"drain_ms"`           // SIGTERM → process exit
	ExitCode          int              `json:"exit_code"`
	DrainTimeoutMs    float64          `json:"drain_timeout_ms"` // the server's SHUTDOWN_TIMEOUT
	Forced            bool             `json:"forced"`           // the server had to Close stragglers
	Classes           map[string]int64 `json:"classes"`          // completed_before, completed_after, refused, accept_queue_reset, lost
	WritesAcked       int64            `json:"writes_acked"`     // POSTs answered 201
	WritesFound       int64            `json:"writes_found"`     // of those, ids found in PostgreSQL (−1: not available)
	MissingIDs        []int64          `json:"missing_ids,omitempty"`
	LongestInFlightMs float64          `json:"longest_in_flight_ms"` // the longest request in flight at SIGTERM
	// AcceptQueue lists the requests whose connection the kernel reset in the listener's accept
	// queue when it closed (class accept_queue_reset); AcceptQueueSeen is how many connections
	// the readings since SIGTERM saw waiting there (−1: not read).
	AcceptQueue     []Request `json:"accept_queue,omitempty"`
	AcceptQueueSeen int       `json:"accept_queue_seen"`
	// SignalCmd is true when the operator's -signal-cmd signalled a server the harness did not
	// start. Its exit code was not seen (ExitCode −1); SigtermOffsetMs is the command's start,
	// and DrainMs ends when its admin listener, closed last, first refused a connection.
	SignalCmd bool `json:"signal_cmd,omitempty"`
}

// DeployStats are the figures of the deploy scenario: an old server replaced by a new one under
// load, by one strategy.
type DeployStats struct {
	Strategy string `json:"strategy"` // restart, reuseport or handoff
	// MigrateReq is net.ipv4.tcp_migrate_req during the switch (reuseport; −1: left as it was).
	MigrateReq       int     `json:"migrate_req"`
	SwitchOffsetMs   float64 `json:"switch_offset_ms"`   // the old server told to go (SIGTERM), from the scenario's start
	SuccessorReadyMs float64 `json:"successor_ready_ms"` // the new server ready, from the scenario's start (−1: never)
	GapMs            float64 `json:"gap_ms"`             // longest time between two answered requests (their ends)
	GapStartMs       float64 `json:"gap_start_ms"`       // where that gap began, from the scenario's start
	MaxGapMs         float64 `json:"max_gap_ms"`         // -max-gap
	// Instances are the processes that answered (X-Instance-Id), old first.
	Instances []DeployInstance `json:"instances"`
	// Failures counts the failed requests by error class (refused, reset, eof, timeout,
	// http_5xx, ...); Failed lists each one, in send order.
	Failures map[string]int64 `json:"failures"`
	Failed   []Request        `json:"failed"`
	// Switch is which instance answered over time, in buckets of SwitchBucketMs.
	Switch         []SwitchBucket `json:"switch"`
	SwitchBucketMs float64        `json:"switch_bucket_ms"`

	OldExitCode  int     `json:"old_exit_code"`  // −1: killed by a signal
	OldDrainMs   float64 `json:"old_drain_ms"`   // SIGTERM → the old process's exit (−1: never)
	DrainLimitMs float64 `json:"drain_limit_ms"` // DRAIN_DELAY + SHUTDOWN_TIMEOUT + 1 s
	OldKilled    bool    `json:"old_killed"`     // still running past its drain: killed by the harness
	WritesAcked  int64   `json:"writes_acked"`   // POSTs answered 201
	WritesFound  int64   `json:"writes_found"`   // of those, found in PostgreSQL (−1: not available)
	MissingIDs   []int64 `json:"missing_ids,omitempty"`
	// AcceptQueue is each listening socket's accept queue over the switch, from the network
	// sampler; empty where none ran.
	AcceptQueue []AcceptQueueSample `json:"accept_queue"`
}

// DeployInstance is one server process that answered during a deploy.
type DeployInstance struct {
	ID            string  `json:"id"`   // its X-Instance-Id
	Role          string  `json:"role"` // old, new, or unknown (answered, but neither was asked for its id)
	Answers       int64   `json:"answers"`
	FirstAnswerMs float64 `json:"first_answer_ms"` // end of its first answer, from the scenario's start
	LastAnswerMs  float64 `json:"last_answer_ms"`
}

// SwitchBucket counts a deploy's results by who answered, by their end time.
type SwitchBucket struct {
	OffsetMs float64 `json:"offset_ms"` // bucket start, from the scenario's start
	Old      int64   `json:"old"`
	New      int64   `json:"new"`
	Other    int64   `json:"other"`  // answered by an unknown instance
	Failed   int64   `json:"failed"` // no answer, or a 5xx
}

// AcceptQueueSample is one reading of a listening socket's accept queue (ss -lnt's Recv-Q and
// Send-Q).
type AcceptQueueSample struct {
	OffsetMs float64 `json:"offset_ms"`
	Socket   string  `json:"socket"` // which listener (inode or owner)
	Queue    int     `json:"queue"`  // connections completed, not yet accepted
	Limit    int     `json:"limit"`  // the backlog
}

// SoakStats are the soak's trends: per resource the slope per hour after the warm-up, its 95 %
// interval, the limit and what they say (method: docs/design/harness-evidence.md, "Soak: the trend method in full").
type SoakStats struct {
	WarmupMs float64 `json:"warmup_ms"` // from the attack's start, not judged
	// The span after the warm-up the windows cover: its start (from the scenario's start, as
	// every offset) and length. A resource's fitted line is Intercept at FromMs.
	FromMs    float64        `json:"from_ms"`
	JudgedMs  float64        `json:"judged_ms"`
	Windows   int            `json:"windows"` // windows the judged span is cut into
	Method    string         `json:"method"`  // one line: how the slope and interval were found
	Resources []SoakResource `json:"resources"`
}

// SoakResource is one resource's trend: a slope and interval in Unit per hour.
type SoakResource struct {
	Name string `json:"name"` // heap_live, rss, goroutines, open_conns, open_fds, pool_total, db_sessions, p99
	Unit string `json:"unit"` // "MiB", "count" or "ms"
	// How each window's point was taken: "floor" (its lowest reading) or "p99" (of the requests
	// intended in it, from the intended send time).
	Window       string  `json:"window"`
	SlopePerHour float64 `json:"slope_per_hour"`
	LowPerHour   float64 `json:"low_per_hour"` // 95 % interval of the slope
	HighPerHour  float64 `json:"high_per_hour"`
	LimitPerHour float64 `json:"limit_per_hour"`
	Intercept    float64 `json:"intercept"` // the fitted line's value at FromMs
	Verdict      Verdict `json:"verdict"`   // PASS, FAIL, INVALID ("not available": SKIPPED)
	Reason       string  `json:"reason"`    // one line
	// Series is the window points: offset of each window's middle from the scenario's start
	// and its value.
	Series []SoakPoint `json:"series"`
}

// SoakPoint is one window of a soak resource.
type SoakPoint struct {
	OffsetMs float64 `json:"offset_ms"`
	Value    float64 `json:"value"`
}

// RampStats are the figures of the capacity ramp.
type RampStats struct {
	Steps        []RampStep `json:"steps"`
	CapacityRate float64    `json:"capacity_rate"` // highest rate whose p99 stayed under the SLO (0: none)
	// Limit says what ended the ramp: "server" (it saturated: slow answers or errors),
	// "generator" (the client could not keep the schedule while the server answered in time:
	// the capacity is at least CapacityRate) or "none" (every step met the SLO).
	Limit      string `json:"limit"`
	StopReason string `json:"stop_reason"` // one line: the step that ended the ramp and why
}

// RampStep is one rate the ramp tried.
type RampStep struct {
	Rate          float64 `json:"rate"`
	AchievedRate  float64 `json:"achieved_rate"`
	P99Ms         float64 `json:"p99_ms"`          // from the actual send time: the server's answer time
	P99IntendedMs float64 `json:"p99_intended_ms"` // from the intended send time: what users feel, judged
	LatenessP99Ms float64 `json:"lateness_p99_ms"` // the generator's send lateness
	PeakInFlight  int64   `json:"peak_in_flight"`
	ErrorRatio    float64 `json:"error_ratio"`
	WithinSLO     bool    `json:"within_slo"`
	Valid         bool    `json:"valid"`             // the generator kept up (the engine's validity checks passed)
	Refined       bool    `json:"refined,omitempty"` // a refinement between the highest rate met and the lowest missed
	Retry         bool    `json:"retry,omitempty"`   // a second try of the rate the step before missed
	Retried       bool    `json:"retried,omitempty"` // a miss tried again: the next step decides
	// CPUHold records that the own rate was held longer (-ramp-cpu-hold) so that its CPU per
	// request is steady enough to compare.
	CPUHold bool `json:"cpu_hold,omitempty"`
	// CPUPerRequestUs is the server process's CPU time during the step per request sent (µs;
	// 0 when not measured).
	CPUPerRequestUs float64 `json:"cpu_per_request_us,omitempty"`
	// HarnessCPUPerRequestUs is this harness's own CPU time during the step per request sent.
	HarnessCPUPerRequestUs float64 `json:"harness_cpu_per_request_us,omitempty"`
}

// Ms converts a duration to the float milliseconds of the _ms fields.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Overall returns the run's verdict from its scenarios': the worst one wins, and a run with no
// scenario that passed or failed on its merits (all skipped) is INVALID, never PASS.
func Overall(scenarios []Scenario) Verdict {
	rank := map[Verdict]int{Pass: 0, Skipped: 0, Invalid: 1, Fail: 2, Interrupted: 3}
	worst, judged := Pass, false
	for _, s := range scenarios {
		if s.Verdict != Skipped {
			judged = true
		}
		if rank[s.Verdict] > rank[worst] {
			worst = s.Verdict
		}
	}
	if !judged {
		return Invalid
	}
	return worst
}

// Read loads a summary.json, gunzipping it first when its name ends in .gz (recordings keep
// summary.json.gz), and refuses a schema version it does not know.
func Read(path string) (Run, error) {
	b, err := readFile(path)
	if err != nil {
		return Run{}, fmt.Errorf("read summary: %w", err)
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return Run{}, fmt.Errorf("parse summary %s: %w", path, err)
	}
	if r.SchemaVersion < 1 || r.SchemaVersion > SchemaVersion {
		return Run{}, fmt.Errorf("summary %s has schema_version %d, this build reads 1 to %d", path, r.SchemaVersion, SchemaVersion)
	}
	return r, nil
}

// Write stores r as indented JSON at path, atomically (temp file then rename), so a reader never
// sees half a summary even when the run is interrupted while writing.
func Write(path string, r Run) error {
	r.SchemaVersion = SchemaVersion
	if err := atomicfile.WriteJSON(path, r); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	if !strings.HasSuffix(path, ".gz") {
		return os.ReadFile(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}
