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
// (the project's testdata with the third-party logs in testdata/thirdparty,
// and again with the data sets kept outside the repository) through the
// in-process matcher and through the plugin, batch by batch, and requires
// identical detections.
func TestSameDetectionsOnRealInputs(t *testing.T) {
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
	for _, set := range []struct {
		name  string
		paths func(t *testing.T) []string
	}{
		{"testdata", func(t *testing.T) []string { return []string{testdir.Testdata(t)} }},
		{"with outside data", func(t *testing.T) []string {
			return []string{testdir.Testdata(t), testdir.Shared(t, testdir.AttackSamples), testdir.Shared(t, testdir.ECS)}
		}},
	} {
		t.Run(set.name, func(t *testing.T) {
			sameDetectionsOnInputs(t, set.paths(t), cfgs, ms, cs)
		})
	}
}

func sameDetectionsOnInputs(t *testing.T, paths []string, cfgs []detector.Config, ms []*detector.Matcher, cs []*Client) {
	ctx := context.Background()
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
	err := file.ReadPaths(ctx, paths, file.Options{
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
