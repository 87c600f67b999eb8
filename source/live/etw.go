package live

import "github.com/tsclientwatch/tsclientwatch/source/live/etw"

// etwStats maps the ETW watcher's counters to Stats: Lost counts events
// (the session's, the queue's and undecodable ones), LostBuffers the
// real-time buffers ETW could not deliver, which hold many events each.
func etwStats(s etw.Stats) Stats {
	return Stats{
		Mechanism:   ETW,
		Detail:      s.Detail(),
		Events:      s.Events,
		Lost:        s.Lost(),
		LostBuffers: s.LostBuffers(),
		Warning:     s.Warning(),
	}
}
