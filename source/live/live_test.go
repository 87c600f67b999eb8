package live

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
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
