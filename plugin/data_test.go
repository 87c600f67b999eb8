package plugin

import (
	"context"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/internal/testdir"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/file"
)

// TestSameDetectionsOnRealInputs runs every input the readers understand
// (the project's testdata and the shared data set) through the in-process
// matcher and through the plugin, batch by batch, and requires identical
// detections.
func TestSameDetectionsOnRealInputs(t *testing.T) {
	ctx := context.Background()
	strict := detector.DefaultConfig()
	strict.Strict = true
	cfgs := []detector.Config{detector.DefaultConfig(), strict}
	var (
		ms []*detector.Matcher
		cs []*Client
	)
	for _, cfg := range cfgs {
		ms = append(ms, detector.MustNew(cfg))
		cs = append(cs, launch(t, cfg))
	}

	const batchSize = 1024
	var (
		batch              []detector.Event
		events, detections int
		want, got          []detector.Detection
	)
	flush := func() error {
		for i := range cfgs {
			want, _ = ms[i].Detect(ctx, batch, want[:0])
			var err error
			if got, err = cs[i].Detect(ctx, batch, got[:0]); err != nil {
				return err
			}
			sameDetections(t, got, want)
			if i == 0 {
				detections += len(want)
			}
		}
		events += len(batch)
		batch = batch[:0]
		return nil
	}
	err := file.ReadPaths(ctx, []string{testdir.Testdata(t), testdir.Shared(t)}, file.Options{
		Sink: source.Sink{Event: func(e *detector.Event) error {
			batch = append(batch, *e)
			if len(batch) == batchSize {
				return flush()
			}
			return nil
		}},
		// Inputs the readers refuse (MANIFEST.md, ...) are not this test's
		// concern; the reader packages test them.
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	if detections == 0 {
		t.Fatal("no detections at all: testdata holds positives, so the inputs were not read")
	}
	t.Logf("%d events, %d detections (default config), identical (default and strict) in and out of process", events, detections)
}
