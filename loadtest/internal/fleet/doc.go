// Package fleet spreads one attack over several load generators and merges it back: the worker
// (`loadtest worker`) and the coordinator (`loadtest run -workers`).
//
// One schedule: worker i of N sends the hits whose sequence number is ≡ i (mod N) of the
// schedule one process would run (attack.ShardPacer, attack.TargetOptions.Shard), so the union
// is that schedule, hit for hit, request mix and held requests included. One clock: before each
// attack the coordinator reads every worker's clock over several HTTP exchanges and keeps the
// quickest (offset = worker reading − the exchange's midpoint, known within half its round
// trip), then sends each worker the start time T0 + offset in its own clock. Each result comes
// back with its send time as an offset from the worker's start, which the coordinator maps to its
// own T0: intended send times, windows and lateness are on the coordinator's timeline. One run:
// the results, merged in arrival order, go through the engine (attack.Run) like a local
// attack's, so the .bin, summary.json and every check are the same, with a row per worker.
//
// The control API (HTTP/1.1, JSON; Protocol), every request with "Authorization: Bearer <key>"
// (WorkerOptions.Key, at least MinKeyLen bytes; 401 without, 429 after too many wrong ones):
//
//	GET  /v1/ready   {"protocol":1,"busy":false,"pid":123,"host":"<boot id>/pid:[…]"}
//	GET  /v1/clock   {"unix_nano":…}: the worker's clock when it answered
//	POST /v1/attack  a Plan → 200 and the results stream (frames, wire.go) until the attack ends;
//	                 400 bad plan (no start time, or a number past attack's bounds: nothing
//	                 happens), 409 busy
//	POST /v1/stop    stops the attack that runs; its stream ends with its last results
//
// A worker never starts on its own, runs one attack at a time, and stops its attack when the
// coordinator's connection drops. Memory is bounded on both sides: the worker writes each
// result to its stream as it arrives (a 64 KiB buffer flushed every 50 ms); a coordinator that
// reads slowly blocks the worker's writes (TCP flow control), never a queue, and one that stops
// reading for stallAfter makes the worker stop its attack; the coordinator hands results to the
// engine through a small channel and sizes nothing by what a frame claims. What a worker sends
// is checked, not trusted: impossible results are left out and fail "workers honest", and a
// worker that never ends its stream is lost.
package fleet
