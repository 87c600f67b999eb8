package collect

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/evidence"
	"github.com/tsclientwatch/tsclientwatch/store"
	"github.com/tsclientwatch/tsclientwatch/tables"
)

// EvidenceConfig turns the evidence.* configuration into the reader's.
func EvidenceConfig(c config.Evidence) evidence.Config {
	return evidence.Config{Hash: c.Hash, Dir: c.Dir, MaxFileBytes: c.MaxFileBytes, MaxDirBytes: c.MaxDirBytes,
		Concurrency: c.Concurrency, Timeout: c.Timeout, Queue: c.Queue}
}

// NewEvidence starts the evidence reader c asks for: nil when c reads
// nothing (hashing off, no directory). When the directory cannot be used
// (unsafe, not creatable) and hashing is on, the reader hashes without
// copies and err says why; callers report it and go on, as a detector
// must not stop over its evidence.
func NewEvidence(c config.Evidence, log *slog.Logger) (ev *evidence.Collector, err error) {
	if !c.Hash && c.Dir == "" {
		return nil, nil
	}
	ev, err = evidence.New(EvidenceConfig(c), log)
	if err == nil || c.Dir == "" || !c.Hash {
		return ev, err
	}
	hashOnly := c
	hashOnly.Dir = ""
	ev, err2 := evidence.New(EvidenceConfig(hashOnly), log)
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return ev, fmt.Errorf("%w; programs are hashed but not copied until this is fixed and the process restarts", err)
}

// evidenceRun holds live detections back in the store until the program
// each ran has been read (issue 15, docs/evidence.md): a row never changes
// once visible, because osquery's differential results compare whole
// rows, so a detection waits, stored but hidden, until its SHA-256, size
// and copy are known or given up. The watcher never waits: Submit only
// queues, and a full queue releases the detection at once.
type evidenceRun struct {
	ev      *evidence.Collector // nil: nothing is read, nothing held
	st      *store.Store
	copies  bool   // evidence.dir is set: read even when the log gave a hash
	target  string // for the status row
	started time.Time

	mu      sync.Mutex
	lastErr string
	failed  string // why the reader could not start as configured
}

// wants reports whether d waits for evidence: the reader runs, and the
// source gave no hash (or a copy is wanted).
func (e *evidenceRun) wants(d *detector.Detection) bool {
	return e.ev != nil && (d.SHA256 == "" || e.copies)
}

// hold stores each detection of ds that waits for evidence as held and
// hands it to the reader; it returns, in place, the others, which the
// caller stores at once.
func (e *evidenceRun) hold(ds []detector.Detection) []detector.Detection {
	rest := ds[:0]
	for _, d := range ds {
		if !e.wants(&d) {
			rest = append(rest, d)
			continue
		}
		id, ok := e.st.Hold(d)
		if !ok {
			continue // already stored (the store counts the duplicate)
		}
		e.submit(id, d)
	}
	return rest
}

// submit asks the reader for id's evidence; a full queue releases id at
// once without it (the reader counts it as released).
func (e *evidenceRun) submit(id int64, d detector.Detection) {
	req := evidence.Request{PID: d.PID, Path: d.Executable, Detection: d}
	if !e.ev.Submit(req, func(r evidence.Result) { e.settle(id, r) }) {
		e.note(fmt.Errorf("evidence for %s: the queue is full (evidence.queue); shown without evidence", d.Executable))
		e.st.Release(id, nil)
	}
}

// settle releases id with what r found. A request cut short by Close
// (the process is stopping) leaves the row held: it is stored, and read
// again at the next start.
func (e *evidenceRun) settle(id int64, r evidence.Result) {
	if errors.Is(r.Err, evidence.ErrClosed) {
		return
	}
	if r.Err != nil {
		e.note(r.Err)
	}
	e.st.Release(id, func(d *detector.Detection) { FillEvidence(d, r) })
}

// FillEvidence copies r's findings into d without overwriting what the
// source said: a hash from the log stays.
func FillEvidence(d *detector.Detection, r evidence.Result) {
	if d.SHA256 == "" && r.Outcome == evidence.Hashed {
		d.SHA256 = r.SHA256
	}
	if d.Size == 0 {
		d.Size = r.Size
	}
	if d.EvidencePath == "" {
		d.EvidencePath = r.EvidencePath
	}
}

// retryHeld reads once more the detections a previous run left held (it
// stopped while they were read) and releases each when that settles, or
// at once when nothing is read now.
func (e *evidenceRun) retryHeld() {
	for _, h := range e.st.HeldRows() {
		if e.wants(&h.Detection) {
			e.submit(h.ID, h.Detection)
		} else {
			e.st.Release(h.ID, nil)
		}
	}
}

func (e *evidenceRun) note(err error) {
	e.mu.Lock()
	e.lastErr = err.Error()
	e.mu.Unlock()
}

// status is the evidence row of tsclientwatch_status; ok is false when
// nothing is read (no row).
func (e *evidenceRun) status() (tables.SourceStatus, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ev == nil {
		if e.failed == "" {
			return tables.SourceStatus{}, false
		}
		return tables.SourceStatus{Type: "evidence", Target: e.target, State: StateFailed, Errors: 1, LastError: e.failed}, true
	}
	k := e.ev.Counters()
	st := tables.SourceStatus{Type: "evidence", Target: e.target, State: StateRunning, Started: e.started,
		LastError: e.lastErr, Errors: int64(k.Failed),
		EvidenceRead: int64(k.Read), EvidenceKept: int64(k.Kept), EvidenceTooLarge: int64(k.TooLarge),
		EvidenceTimedOut: int64(k.TimedOut), EvidenceFailed: int64(k.Failed), EvidenceEvicted: int64(k.Evicted),
		EvidenceReleased: int64(k.Released), EvidenceWaiting: int64(k.Waiting), EvidenceHung: int64(k.Hung)}
	if e.failed != "" {
		st.Warning = e.failed
	}
	return st, true
}
