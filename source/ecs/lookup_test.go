package ecs

import (
	"strings"
	"testing"
)

// TestLookup keeps the lookup switch in step with fieldNames.
func TestLookup(t *testing.T) {
	prefixes := map[string]bool{}
	for id, name := range fieldNames {
		if got := lookup([]byte(name)); got != id {
			t.Errorf("lookup(%q) = %d, want %d", name, got, id)
		}
		for i := range len(name) {
			if name[i] == '.' {
				prefixes[name[:i]] = true
			}
		}
	}
	for p := range prefixes {
		if got := lookup([]byte(p)); got != isPrefix {
			t.Errorf("lookup(%q) = %d, want isPrefix", p, got)
		}
	}
	for _, s := range []string{"", "process.Ext.code_signature", "Process", "process.parent.thread", "host.os.name", "event.kind"} {
		if got := lookup([]byte(s)); got != notWanted {
			t.Errorf("lookup(%q) = %d, want notWanted", s, got)
		}
	}
	// Every prefix the switch accepts must lead to a field.
	for _, name := range fieldNames {
		if strings.HasSuffix(name, ".") {
			t.Errorf("bad field name %q", name)
		}
	}
}
