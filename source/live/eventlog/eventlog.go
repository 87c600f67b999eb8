// Package eventlog is the Windows secondary live watcher: an Event Log
// subscription (EvtSubscribe) to Sysmon process creation (EID 1) and
// Security process creation (4688). Each event is rendered to XML and goes
// through the same decoder as event XML files (source/eventxml), so live
// and file input cannot disagree.
//
// Decoding (this file) and the subscription lifecycle (watcher.go: empty
// reads, batch halving, resubscribing from a bookmark after a stale result
// set or a service restart, missing channels, audit policy) are portable
// and tested with a fake API; api_windows.go is the thin layer over
// wevtapi.
package eventlog

import (
	"fmt"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source/eventxml"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// Subscription is one channel and the XPath query that selects its process
// starts.
type Subscription struct {
	Channel string
	Query   string
}

// Subscriptions are the channels the watcher subscribes to. A channel that
// does not exist (Sysmon not installed) or cannot be read (Security without
// the audit privilege) is skipped as long as one works.
var Subscriptions = []Subscription{
	{winevent.ChannelSysmon, "*[System[(EventID=1)]]"},
	{winevent.ChannelSecurity, "*[System[(EventID=4688)]]"},
}

// Decode turns one rendered event (UTF-8, or UTF-16 with its BOM) into ev.
// Records other than Sysmon 1 and 4688 become TypeOther events, as the file
// readers make them.
func Decode(xml []byte, ev *detector.Event) error {
	return decodeWith(xml, ev, nil)
}

// decodeWith is Decode that also shows the decoded record to seen.
func decodeWith(xml []byte, ev *detector.Event, seen func(*winevent.Record)) error {
	rec, err := eventxml.DecodeEvent(xml)
	if err != nil {
		return err
	}
	if seen != nil {
		seen(&rec)
	}
	rec.Event(ev)
	if ev.Type == detector.TypeOther {
		return nil
	}
	// Keep the channel visible: the rule fires on Sysmon's UNC form and
	// 4688's kernel form alike, and readers of the table want to know
	// which one they see.
	ev.Source = "eventlog:" + channelName(&rec)
	return nil
}

func channelName(r *winevent.Record) string {
	switch {
	case r.IsSysmon():
		return "sysmon"
	case r.IsSecurity():
		return "security"
	}
	return fmt.Sprint(r.Channel)
}
