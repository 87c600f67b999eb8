package live

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/source/live/etw"
)

func TestOpenRefuses(t *testing.T) {
	_, err := Open(context.Background(), Options{Mechanism: "kprobe"})
	if err == nil || !strings.Contains(err.Error(), `unknown mechanism "kprobe"`) {
		t.Errorf("unknown mechanism: %v", err)
	}
	foreign := ETW
	if runtime.GOOS == "windows" {
		foreign = EBPF
	}
	_, err = Open(context.Background(), Options{Mechanism: foreign})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), runtime.GOOS) {
		t.Errorf("Open(%s) on %s: %v", foreign, runtime.GOOS, err)
	}
}

// resumable is a Watcher that can resume, as the Event Log watcher can.
type resumable struct {
	Watcher
	cursor string
}

func (r resumable) Cursor() string { return r.cursor }

func TestHostedForwardsCursor(t *testing.T) {
	if c := withHost(resumable{cursor: "<BookmarkList/>"}, nil).(Cursorer).Cursor(); c != "<BookmarkList/>" {
		t.Errorf("cursor %q", c)
	}
	type plain struct{ Watcher }
	if c := withHost(plain{}, nil).(Cursorer).Cursor(); c != "" {
		t.Errorf("cursor of a watcher that cannot resume: %q", c)
	}
}

func TestETWStats(t *testing.T) {
	st := etwStats(etw.Stats{Name: "tsclientwatch-process-1-2-3", Filtered: true, Events: 9, Bad: 1, Dropped: 2,
		Session: etw.SessionStats{EventsLost: 3, RealTimeBuffersLost: 4}, LostNotices: 5, BufferNotices: 1})
	if st.Mechanism != ETW || st.Events != 9 || st.Lost != 6 || st.LostBuffers != 4 || st.Warning != "" ||
		st.Detail != "session tsclientwatch-process-1-2-3; lost: 3 by the session, 2 queue full, 1 undecodable; RT_LostEvent 5, RT_LostBuffer 1; user from token 0, from creator 0" {
		t.Errorf("%+v", st)
	}
}
