// Package source holds the contract every event reader and watcher shares:
// how decoded events and bad records are handed on. Readers live in one
// sub-package per format; source/file picks the right one for a path.
package source

import (
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Sink receives what a reader decodes. Readers call it from one goroutine.
type Sink struct {
	// Event receives each decoded record. The pointer is only valid during
	// the call: copy the Event to keep it. Returning an error stops the
	// reader, which returns that error.
	Event func(*detector.Event) error
	// Bad receives each record that could not be decoded; the reader goes on
	// with the next one. May be nil.
	Bad func(*RecordError)
}

// Emit delivers ev to s.Event.
func (s Sink) Emit(ev *detector.Event) error { return s.Event(ev) }

// Report delivers a bad-record error, if anyone listens.
func (s Sink) Report(err *RecordError) {
	if s.Bad != nil {
		s.Bad(err)
	}
}

// RecordError is one record, line or chunk that could not be decoded. It
// names the file and, where the format has them, the record number, line
// number and byte offset.
type RecordError struct {
	File   string
	Record int64 // 1-based record number (EVTX record id, n-th document); 0 if not known
	Line   int64 // 1-based line number for line-oriented formats; 0 if not applicable
	Offset int64 // byte offset of the bad data in the file; -1 if not known
	Err    error
}

func (e *RecordError) Error() string {
	msg := e.File
	if e.Line > 0 {
		msg += fmt.Sprintf(": line %d", e.Line)
	}
	if e.Record > 0 {
		msg += fmt.Sprintf(": record %d", e.Record)
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" (offset %d)", e.Offset)
	}
	return msg + ": " + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Stats counts what a reader got through.
type Stats struct {
	Records int64 // records or documents decoded, good or bad
	Bad     int64 // records that could not be decoded
	Bytes   int64 // input bytes consumed
}
