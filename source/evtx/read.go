package evtx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/tsclientwatch/tsclientwatch/detector"
	"github.com/tsclientwatch/tsclientwatch/source"
	"github.com/tsclientwatch/tsclientwatch/source/winevent"
)

// Options tunes ReadWith. The zero value decodes every chunk, using every
// core.
type Options struct {
	// Prefilter skips the binary XML decoding of chunks that hold none of
	// the needles, ignoring ASCII case, in UTF-16LE or as plain bytes.
	// Records of a skipped chunk are not emitted at all: only a caller
	// that wants just what the rule can match (scan) should set it. Chunk
	// damage and record framing damage are still reported for skipped
	// chunks; damage inside a skipped record's binary XML is not seen.
	Prefilter bool
	// Config is the detector configuration the events will be matched
	// with; the needles are detector.Needles(Config) unless Needles is set.
	Config detector.Config
	// Needles, when not nil, replaces the needles derived from Config.
	Needles []string
	// Workers is how many goroutines decode chunks: 0 means GOMAXPROCS, 1
	// decodes in the caller's goroutine. Events reach the sink in file
	// order, from the caller's goroutine, whatever the value.
	Workers int
	// After, when not zero, leaves out every record numbered at or below
	// it (the record header's number, winevent.Record.Number): neither its
	// event nor its damage reaches the sink. A follower that read a file up
	// to record N reads it again with After N. Chunk damage that belongs
	// to no record is still reported.
	After uint64
	// Seen, when not nil, is called with each record's number just before
	// its event reaches the sink, so a follower's position is exact when
	// the sink stores what it has (and the cursor with it).
	Seen func(number uint64)
}

// Stats counts what ReadWith got through. Stats.Records counts decoded
// records only; with the prefilter on, RecordsSkipped holds the records
// framed in skipped chunks, so Records+RecordsSkipped is what a full parse
// counts (unless a skipped chunk's binary XML is damaged beyond decoding).
type Stats struct {
	source.Stats
	Chunks         int64 // chunks holding data (preallocated, all-zero chunks are not counted)
	ChunksSkipped  int64 // chunks the prefilter did not decode
	RecordsSkipped int64 // framed records in skipped chunks: not decoded, not emitted
}

// batchChunks is how many chunks one ReadAt fetches and one worker takes
// at a time: large reads, few hand-offs, and memory bounded by
// (2 x workers) batches of 512 KiB whatever the file size.
const batchChunks = 8

// item is one thing a chunk produced, in order: an event or a bad record.
type item struct {
	ev     detector.Event
	bad    *source.RecordError
	number uint64 // the record's number in the file (0: chunk damage)
}

// chunkOut is what one chunk of a batch produced.
type chunkOut struct {
	items   []item
	bytes   int
	data    bool // the chunk holds something (not a zero tail)
	skipped bool
	framed  int // records framed in a skipped chunk
}

// batch is consecutive chunks read with one ReadAt and decoded by one
// worker.
type batch struct {
	buf     []byte // batchChunks*chunkSize
	off     int64  // file offset of the first chunk
	first   int    // index of the first chunk
	chunks  int    // chunks in this batch
	n       int    // bytes read
	readErr error  // fatal read error after the first n bytes
	out     [batchChunks]chunkOut
	done    chan struct{}
}

var batchPool = sync.Pool{New: func() any { return &batch{buf: make([]byte, batchChunks*chunkSize)} }}

// ReadWith is Read with options: the chunk prefilter, and how many
// goroutines decode. See Read for what is reported and what is fatal.
//
// Chunks are read in batches with large ReadAt calls into reused buffers
// and decoded by a bounded pool of workers; the caller's goroutine puts
// the results back in file order and calls sink, so events and reports
// arrive exactly as a sequential read delivers them. ctx is checked
// between chunks: a cancelled read emits nothing after the chunk in
// progress. Memory is bounded by a few batches per worker.
func ReadWith(ctx context.Context, r io.ReaderAt, size int64, name string, sink source.Sink, opt Options) (Stats, error) {
	var st Stats
	start, h, err := readFileHeader(r, size, name, sink, &st.Stats)
	if err != nil {
		return st, err
	}
	var ns *needleSet
	if opt.Prefilter {
		needles := opt.Needles
		if needles == nil {
			needles = detector.Needles(opt.Config)
		}
		ns = newNeedleSet(needles)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := int((max(size-start, 0) + chunkSize - 1) / chunkSize)
	// Spread a small file over the workers too: most real logs are a few
	// chunks long.
	per := min(batchChunks, max(1, (chunks+workers-1)/workers))
	rd := &reader{r: r, size: size, name: name, ns: ns, per: per, next: start, opt: &opt,
		unallocated: unallocatedFrom(r, start, size, h)}
	if workers == 1 || chunks <= per {
		return rd.sequential(ctx, sink, st)
	}
	return rd.parallel(ctx, sink, st, workers)
}

// reader holds what the batches of one file share.
type reader struct {
	opt   *Options
	r     io.ReaderAt
	size  int64
	name  string
	ns    *needleSet // nil: decode every chunk
	per   int        // chunks per batch
	next  int64      // offset of the next batch
	index int        // index of the next batch's first chunk
	// unallocated is the index of the first chunk of the file's
	// unallocated tail, which is neither decoded nor reported.
	unallocated int
}

func (rd *reader) more() bool { return rd.next < rd.size }

// read fills b with the next batch. It returns false when the read failed
// in a way that ends the file; b then holds the chunks read before the
// failure and the error.
func (rd *reader) read(b *batch) bool {
	want := min(int64(rd.per*chunkSize), rd.size-rd.next)
	b.off, b.first = rd.next, rd.index
	b.chunks = int((want + chunkSize - 1) / chunkSize)
	b.readErr = nil
	n, err := rd.r.ReadAt(b.buf[:want], b.off)
	b.n = n
	clear(b.buf[n : b.chunks*chunkSize])
	rd.next += want
	rd.index += b.chunks
	// A file shorter than size ends in a truncated chunk, which decoding
	// reports; any other error ends the read.
	if err != nil && !errors.Is(err, io.EOF) {
		b.readErr = fmt.Errorf("read %s chunk %d (offset %d): %w", rd.name, b.first+n/chunkSize,
			b.off+int64(n/chunkSize*chunkSize), err)
		b.chunks = n / chunkSize
		return false
	}
	return true
}

// decode runs every chunk of b through framing, the prefilter and the
// decoder, collecting the results in b.out.
func (rd *reader) decode(b *batch) {
	for c := range b.chunks {
		out := &b.out[c]
		out.items = out.items[:0]
		out.skipped, out.framed = false, 0
		coff := c * chunkSize
		n := min(max(b.n-coff, 0), chunkSize)
		out.bytes = n
		buf := b.buf[coff : coff+chunkSize]
		index, off := b.first+c, b.off+int64(coff)
		// The zero tail of a preallocated file, or space after the last
		// chunk that never was one.
		out.data = !(n < chunkSize && allZero(buf[:n])) && index < rd.unallocated
		if !out.data {
			continue
		}
		report := func(e *source.RecordError) {
			out.items = append(out.items, item{bad: e, number: uint64(max(e.Record, 0))})
		}
		f := frameChunk(buf, n, index, off, rd.name, report)
		if rd.ns != nil && len(f.spans) > 0 && !rd.ns.contains(buf[chunkHeaderSize:f.limit]) {
			// Every byte of every framed record lies in
			// [chunkHeaderSize, limit): a record never spans chunks (each
			// chunk is self-contained, with chunk-relative string and
			// template offsets; libyal's EVTX format description, "Chunk"),
			// so a needle cut at a chunk boundary cannot belong to a record.
			// The guard keeps the decoder's reads of a record's tokens,
			// texts and values inside that record's bytes, so what the
			// decode could show the rule is what was searched here.
			out.skipped, out.framed = true, len(f.spans)
			continue
		}
		var ev detector.Event
		decodeFramed(buf, f, index, off, rd.name, func(rec *winevent.Record) bool {
			rec.Event(&ev)
			out.items = append(out.items, item{ev: ev, number: rec.Number})
			return true
		}, report)
	}
}

// emit hands b's results to sink in order. ctx is checked before each
// chunk, as a sequential read checks it before reading the chunk.
func emit(ctx context.Context, b *batch, name string, sink source.Sink, st *Stats, opt *Options) error {
	for c := range b.chunks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		out := &b.out[c]
		st.Bytes += int64(out.bytes)
		if !out.data {
			continue
		}
		st.Chunks++
		if out.skipped {
			st.ChunksSkipped++
			st.RecordsSkipped += int64(out.framed)
		}
		for i := range out.items {
			it := &out.items[i]
			if opt.After != 0 && it.number != 0 && it.number <= opt.After {
				continue
			}
			if it.bad != nil {
				st.Bad++
				if it.bad.Record > 0 {
					st.Records++
				}
				sink.Report(it.bad)
				continue
			}
			st.Records++
			if opt.Seen != nil {
				opt.Seen(it.number)
			}
			if err := sink.Emit(&it.ev); err != nil {
				return err
			}
		}
	}
	return b.readErr
}

func (rd *reader) sequential(ctx context.Context, sink source.Sink, st Stats) (Stats, error) {
	b := batchPool.Get().(*batch)
	defer batchPool.Put(b)
	for rd.more() {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("read %s: %w", rd.name, err)
		}
		rd.read(b)
		rd.decode(b)
		if err := emit(ctx, b, rd.name, sink, &st, rd.opt); err != nil {
			return st, err
		}
	}
	return st, nil
}

// parallel runs a reader goroutine and workers; the caller's goroutine
// emits. At most 2 x workers batches exist, so the channels below never
// fill and nobody blocks except on a free batch or a result.
func (rd *reader) parallel(ctx context.Context, sink source.Sink, st Stats, workers int) (Stats, error) {
	slots := 2 * workers
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *batch, slots)
	order := make(chan *batch, slots)
	work := make(chan *batch, slots)
	for range slots {
		free <- batchPool.Get().(*batch)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(order)
		defer close(work)
		for rd.more() {
			var b *batch
			select {
			case b = <-free:
			case <-ictx.Done():
				return
			}
			ok := rd.read(b)
			b.done = make(chan struct{})
			order <- b
			work <- b
			if !ok {
				return
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for b := range work {
				if ictx.Err() == nil {
					rd.decode(b)
				}
				close(b.done)
			}
		})
	}
	var err error
	for b := range order {
		<-b.done
		if err == nil {
			if err = emit(ctx, b, rd.name, sink, &st, rd.opt); err != nil {
				cancel() // stop reading; batches in flight are drained unseen
			}
		}
		free <- b
	}
	wg.Wait()
	close(free)
	for b := range free {
		batchPool.Put(b)
	}
	return st, err
}
