package main

// The figures perf measures, by what they measure. Each value is the figure's key in perf.json,
// perf.md and docs/perf.md, which keep the codes the docs were written with.
const (
	serverVsBare          = "P1"  // the server's rate / a bare chi+pgx handler's
	bareVsPgbench         = "P1b" // the bare handler's rate / pgbench's
	serverVsPgbench       = "P1c" // the server's rate / pgbench's (context)
	postgresCPUPerRequest = "P1d" // PostgreSQL CPU per request, server / pgbench
	tracingCost           = "P2a" // rate with every span exported to Jaeger / tracing off
	defaultSamplerCost    = "P2b" // rate with the default sampler / tracing off
	tailSamplingCost      = "P2c" // rate exporting to a tail-sampling Jaeger / tracing off
	attackerVsVegeta      = "P3a" // the harness attacker's max rate / the vegeta CLI's
	rateAccuracy          = "P3b" // achieved / target rate at half the max
	sendLateness          = "P3c" // send lateness p99, harness / vegeta CLI
	attackerPeakRSS       = "P3d" // the attacker's peak RSS over a long run
	attackerRSSGrowth     = "P3e" // peak RSS, long run / short run
	workerScaling         = "P3f" // three worker processes / one, at max rate
	generatorCPU          = "P3g" // CPU per request, the harness at half max / wrk at its max
	generatorVsVegetaCPU  = "P3h" // CPU per request at half max, the harness / the vegeta CLI
	drainOverrun          = "P4a" // SIGTERM→exit minus the longest in-flight request
	cancelLatency         = "P4b" // client cancel → query gone, p99
	samplerCost           = "P5"  // the sampler's CPU / the server's
	fullScrapeCost        = "P5b" // sampling the full /metrics / the server's CPU (context)
)

// The parts of a run, the values -only takes (docs/perf.md): each measures a group of figures.
const (
	partServer       = "P1"  // server, bare handler and pgbench side by side
	partTracing      = "P2"  // the tracing figures, on the server part's rounds
	partTailSampling = "P2c" // its own rounds against a tail-sampling Jaeger
	partGenerator    = "P3"  // the load generator against the vegeta CLI
	partFleet        = "P3f" // worker processes
	partShutdown     = "P4"  // drain and cancel
	partSampler      = "P5"  // the sampler's cost
)
