// Package events names the timeline events of a scenario: every writer (the scenario runner, the
// scenarios, the harness metrics) and every reader (the HTML report, the Grafana dashboards'
// annotations) uses these, so a renamed event cannot leave a reader matching the old name. It is
// outside loadtest/internal because the dashboards read the names too.
package events

// The event names. loadtest_events_total counts Start, End, Sigterm and CancelWave
// (docs/contracts.md).
const (
	Start          = "start"           // the scenario's attack begins
	End            = "end"             // the attack ends
	Sigterm        = "sigterm"         // the harness signalled the server (or ran -signal-cmd)
	CancelWave     = "cancel_wave"     // the cancel scenario's first client timeout
	SignalCmd      = "signal_cmd"      // -signal-cmd finished (detail: its outcome)
	Readyz503      = "readyz_503"      // /readyz first answered 503 after the signal
	ListenerClosed = "listener_closed" // the API port first refused a connection
	AdminClosed    = "admin_closed"    // the admin port first refused a connection
	Exit           = "exit"            // the server process exited (detail: its code)
	Crash          = "crash"           // the server process exited during a scenario
	Successor      = "successor"       // a deploy's new server was started (detail: how it got the port)
	SuccessorReady = "successor_ready" // the new server's /readyz answered 200
)
