package collect

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tsclientwatch/tsclientwatch/config"
)

// liveSlack is how far behind the moment of a flush a live source's
// "watched until" time is put: events a watcher has received but not yet
// handed over are that recent. A restart then reports a blind window that
// is a little too long rather than too short.
const liveSlack = time.Second

// cursorKey names a source's cursor in the store: its type and what it
// reads, so a source keeps its position as long as the configuration names
// the same thing.
func cursorKey(sc config.SourceConfig) string {
	switch sc.Type {
	case config.SourceFile:
		p := sc.Path
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return "file:" + p
	case config.SourceOsquery:
		return "osquery:" + sc.Table + "@" + sc.Socket
	}
	return "live:" + sc.Type
}

// liveCursor is a live or osquery source's position: the watcher's own
// cursor when it can resume (an Event Log bookmark, osquery's last time),
// and the time up to which every event was handed to the store.
type liveCursor struct {
	Resume string `json:"resume,omitempty"`
	Until  int64  `json:"until"` // Unix ns
}

func decodeLiveCursor(b []byte) liveCursor {
	var c liveCursor
	if len(b) > 0 && json.Unmarshal(b, &c) != nil {
		return liveCursor{} // unreadable: start as if new (the status shows no gap)
	}
	return c
}

func (c liveCursor) until() time.Time {
	if c.Until == 0 {
		return time.Time{}
	}
	return time.Unix(0, c.Until)
}

func (c liveCursor) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

func (c liveCursor) describe() string {
	s := "watched until " + c.until().UTC().Format(time.RFC3339)
	if c.Resume != "" {
		s += fmt.Sprintf("; resumes from the watcher's cursor (%d bytes)", len(c.Resume))
	}
	return s
}

// fileCursor is where a followed file was left, the way Filebeat's
// registry keeps it: which file (device and inode, and for line-oriented
// files a SHA-256 of its first bytes, which tells a reused inode or a
// rewritten file apart) and how far it was read.
type fileCursor struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FP     []byte `json:"fp,omitempty"` // SHA-256 of the first FPLen bytes
	FPLen  int64  `json:"fp_len,omitempty"`
	Offset int64  `json:"offset"` // incremental: bytes consumed; whole-file: size at the last read
	Lines  int64  `json:"lines,omitempty"`
	// Records is the records before Offset (incremental) or delivered
	// (whole-file, for records without an id).
	Records int64 `json:"records,omitempty"`
	// RecordID is the highest record delivered (whole-file): for EVTX the
	// record's number in the file (its header's, which always grows), for
	// UTF-16 XML its EventRecordID; records at or below it are not
	// delivered again.
	RecordID uint64 `json:"record_id,omitempty"`
}

func decodeFileCursor(b []byte) (fileCursor, bool) {
	var c fileCursor
	if len(b) == 0 || json.Unmarshal(b, &c) != nil {
		return fileCursor{}, false
	}
	return c, true
}

func (c fileCursor) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

func (c fileCursor) describe() string {
	s := fmt.Sprintf("offset %d of file %d:%d", c.Offset, c.Dev, c.Ino)
	if c.RecordID != 0 {
		s += fmt.Sprintf(", record id %d", c.RecordID)
	}
	return s
}
