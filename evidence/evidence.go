package evidence

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tsclientwatch/tsclientwatch/detector"
)

// Config bounds the collector. Zero numbers take the defaults; negative
// ones are refused by New.
type Config struct {
	Hash         bool          // evidence.hash, default true
	Dir          string        // evidence.dir, "" = no copies
	MaxFileBytes int64         // evidence.max_file_bytes, default 64 MiB
	MaxDirBytes  int64         // evidence.max_dir_bytes, default 1 GiB (oldest copies evicted first)
	Concurrency  int           // evidence.concurrency, default 2
	Timeout      time.Duration // evidence.timeout, default 30s
	Queue        int           // evidence.queue, default 1024 (detections waiting for evidence)
}

// Defaults.
const (
	DefaultMaxFileBytes = 64 << 20
	DefaultMaxDirBytes  = 1 << 30
	DefaultConcurrency  = 2
	DefaultTimeout      = 30 * time.Second
	DefaultQueue        = 1024
	// HungPerWorker times Concurrency is how many abandoned reads may be
	// stuck in the kernel at once before new requests fail at once.
	HungPerWorker = 4
)

// DefaultConfig returns hashing on, no copies, and the default bounds.
func DefaultConfig() Config {
	return Config{Hash: true, MaxFileBytes: DefaultMaxFileBytes, MaxDirBytes: DefaultMaxDirBytes,
		Concurrency: DefaultConcurrency, Timeout: DefaultTimeout, Queue: DefaultQueue}
}

// withDefaults fills zero numbers and refuses negative ones.
func (c Config) withDefaults() (Config, error) {
	for _, v := range []struct {
		name string
		val  int64
	}{{"max_file_bytes", c.MaxFileBytes}, {"max_dir_bytes", c.MaxDirBytes}, {"concurrency", int64(c.Concurrency)},
		{"timeout", int64(c.Timeout)}, {"queue", int64(c.Queue)}} {
		if v.val < 0 {
			return c, fmt.Errorf("evidence.%s: %d is negative", v.name, v.val)
		}
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.MaxDirBytes == 0 {
		c.MaxDirBytes = DefaultMaxDirBytes
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Queue == 0 {
		c.Queue = DefaultQueue
	}
	return c, nil
}

// Request asks for the evidence of one detection.
type Request struct {
	PID       int64              // live process id, 0 unknown (Linux: /proc/<pid>/exe is tried first)
	Path      string             // the executable as the watcher reported it (Linux path; Windows NT/UNC/drive)
	Detection detector.Detection // for the sidecar JSON
}

// Outcome says how a request ended.
type Outcome uint8

// Outcomes. Only Hashed carries a SHA-256.
const (
	// Hashed: the file was read and hashed (and copied when a directory is
	// set; Result.EvidencePath says whether the copy was kept).
	Hashed Outcome = iota + 1
	// TooLarge: the file is larger than MaxFileBytes (or grew past it
	// while read): neither hashed nor copied. Result.Size says how large.
	TooLarge
	// TimedOut: no answer within Timeout, in the queue or in the kernel.
	TimedOut
	// Failed: the file could not be opened or read (gone, refused, a
	// symbolic link on the way, too many reads stuck, the collector
	// closed). Result.Err says why.
	Failed
	// NotRegular: a FIFO, device, socket, directory or symbolic link: never
	// read.
	NotRegular
	// Disabled: hashing is off and no directory is set.
	Disabled
	// QueueFull: the queue was full. Submit returns false instead of
	// calling done; the value is for callers that record why.
	QueueFull
)

// String returns the outcome's name as the status table shows it.
func (o Outcome) String() string {
	switch o {
	case Hashed:
		return "hashed"
	case TooLarge:
		return "too_large"
	case TimedOut:
		return "timed_out"
	case Failed:
		return "failed"
	case NotRegular:
		return "not_regular"
	case Disabled:
		return "disabled"
	case QueueFull:
		return "queue_full"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is the evidence of one request.
type Result struct {
	Outcome Outcome
	SHA256  string // lower-case hex of the bytes read ("" unless Hashed)
	// Size is the file's size as fstat saw it (even when TooLarge); when
	// Hashed, the number of bytes the hash covers (they differ only when
	// Changed). 0 unknown.
	Size         int64
	EvidencePath string // the kept copy, "" when none
	Changed      bool   // the file changed while it was read (hash is of what was read)
	// Err says why, for logs (it names the path). A Hashed result may carry
	// one too: the copy could not be kept (disk full, larger than the
	// directory's bound).
	Err error
}

// Counters are running totals since New.
type Counters struct {
	// Read: files hashed. Kept: new copies written (a copy already kept
	// is not counted again). TooLarge, TimedOut, Failed: requests that
	// ended so; Failed also counts copies that could not be kept although
	// the file was hashed (disk full). Evicted: copies removed to stay
	// within MaxDirBytes. Released: requests that ended without a hash,
	// for any reason (queue full, not regular, too large, timed out,
	// failed, closed), so Read+Released is every request but Disabled ones.
	Read, Kept, TooLarge, TimedOut, Failed, Evicted, Released uint64 // Released = without evidence (queue full, not regular, ...)
	// Waiting: requests queued or being read now. Hung: abandoned reads
	// still stuck in the kernel.
	Waiting, Hung int
}

// ErrClosed is the Err of requests settled because the collector closed.
var ErrClosed = errors.New("evidence collector closed")

// Collector reads, hashes and copies the programs of detections, a bounded
// number at a time. Its methods are safe for concurrent use.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	dir     *copyDir // nil: no copies
	queue   chan *request
	stop    chan struct{}
	workers sync.WaitGroup
	hungCap int64
	bufs    sync.Pool

	mu     sync.RWMutex // closed; Submit holds it shared while it enqueues
	closed bool

	cmu      sync.Mutex // counters
	counters Counters
	waiting  atomic.Int64
	hung     atomic.Int64

	// onChunk, when set (tests), runs after each chunk is read.
	onChunk func(path string, read int64)
}

// New checks cfg, prepares cfg.Dir when set (created 0700, refused when
// another user owns it or others can write it; Windows: SYSTEM and
// Administrators only), learns how much it holds, removes temporary files
// a crash left, and starts the workers. log may be nil.
func New(cfg Config, log *slog.Logger) (*Collector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Collector{
		cfg: cfg, log: log,
		queue:   make(chan *request, cfg.Queue),
		stop:    make(chan struct{}),
		hungCap: int64(HungPerWorker * cfg.Concurrency),
	}
	c.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	if cfg.Dir != "" {
		if c.dir, err = openCopyDir(cfg.Dir, cfg.MaxDirBytes, log); err != nil {
			return nil, err
		}
	}
	if c.disabled() {
		return c, nil
	}
	for range cfg.Concurrency {
		c.workers.Add(1)
		go c.work()
	}
	return c, nil
}

func (c *Collector) disabled() bool { return !c.cfg.Hash && c.dir == nil }

// request is a Request in flight.
type request struct {
	Request
	done  func(Result)
	timer *time.Timer
	// state: pending until one of the timer, the job or Close claims
	// it; only the claimer calls done.
	state atomic.Uint32
	// abort is closed when the request is settled from outside the job
	// (deadline, Close): the worker stops waiting, the job stops reading.
	abort    chan struct{}
	size     atomic.Int64 // fstat size, once known
	maxBytes int64        // max_file_bytes

	mu  sync.Mutex
	job *job // the read, once a worker started it
}

const (
	statePending uint32 = iota
	stateSettled
)

func (r *request) claim() bool { return r.state.CompareAndSwap(statePending, stateSettled) }

func (r *request) aborted() bool {
	select {
	case <-r.abort:
		return true
	default:
		return false
	}
}

// Submit queues req and returns at once. done is called exactly once, on
// another goroutine, at the latest Timeout after Submit (plus the moment a
// copy takes to be renamed into place): with the evidence, or TimedOut.
// done must not block for long (it runs on a worker or timer goroutine)
// and must not call Close. Submit returns false, without calling done,
// when the queue is full; the request is then counted as Released.
// After Close, done gets Failed with ErrClosed.
func (c *Collector) Submit(req Request, done func(Result)) bool {
	if done == nil {
		done = func(Result) {}
	}
	if c.disabled() {
		go done(Result{Outcome: Disabled})
		return true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		c.count(Result{Outcome: Failed})
		go done(Result{Outcome: Failed, Err: fmt.Errorf("evidence for %s: %w", req.Path, ErrClosed)})
		return true
	}
	r := &request{Request: req, done: done, abort: make(chan struct{}), maxBytes: c.cfg.MaxFileBytes}
	c.waiting.Add(1)
	r.timer = time.AfterFunc(c.cfg.Timeout, func() { c.expire(r) })
	select {
	case c.queue <- r:
		return true
	default:
	}
	r.timer.Stop()
	if !r.claim() {
		return true // Timeout so short that the timer settled it already
	}
	c.waiting.Add(-1)
	c.cmu.Lock()
	c.counters.Released++
	c.cmu.Unlock()
	return false
}

// expire settles r TimedOut at its deadline, unless it was settled before.
func (c *Collector) expire(r *request) {
	if !r.claim() {
		return
	}
	started := c.abandon(r)
	close(r.abort)
	res := Result{Outcome: TimedOut, Size: r.size.Load()}
	if started {
		res.Err = fmt.Errorf("evidence for %s: no answer within %s (the read is abandoned; a client drive or FUSE mount may hang reads)", r.Path, c.cfg.Timeout)
	} else {
		res.Err = fmt.Errorf("evidence for %s: not read within %s: waited in the queue behind slower reads", r.Path, c.cfg.Timeout)
	}
	c.deliver(r, res)
}

// settleFrom settles r from outside its job (Close, hung cap).
func (c *Collector) settleFrom(r *request, res Result) {
	if !r.claim() {
		return
	}
	r.timer.Stop()
	c.abandon(r)
	close(r.abort)
	c.deliver(r, res)
}

// abandon gives up r's read, if one started, after r was settled from
// outside: while the read still runs it is counted as hung. It reports
// whether a read had started. Doing this before done is called keeps the
// counters a caller reads from done right.
func (c *Collector) abandon(r *request) bool {
	r.mu.Lock()
	j := r.job
	r.mu.Unlock()
	if j == nil {
		return false
	}
	j.mu.Lock()
	if !j.returned && !j.abandoned {
		j.abandoned = true
		c.hung.Add(1)
	}
	j.mu.Unlock()
	return true
}

// deliver counts res and hands it to done; the caller claimed r.
func (c *Collector) deliver(r *request, res Result) {
	c.waiting.Add(-1)
	c.count(res)
	r.done(res)
}

func (c *Collector) count(res Result) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	k := &c.counters
	switch res.Outcome {
	case Hashed:
		k.Read++
		if res.Err != nil && res.EvidencePath == "" && c.dir != nil && !errors.Is(res.Err, errNotKept) {
			k.Failed++
		}
		return
	case TooLarge:
		k.TooLarge++
	case TimedOut:
		k.TimedOut++
	case Failed:
		k.Failed++
	case Disabled:
		return
	}
	k.Released++
}

// Counters returns the running totals.
func (c *Collector) Counters() Counters {
	c.cmu.Lock()
	k := c.counters
	c.cmu.Unlock()
	k.Waiting = int(c.waiting.Load())
	k.Hung = int(c.hung.Load())
	return k
}

// Close stops the workers. Requests still queued or being read get
// Failed with ErrClosed before Close returns; reads stuck in the kernel are
// left to finish on their own (their files are closed and temporary copies
// removed when they do). Close does not wait for them.
func (c *Collector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.workers.Wait()
	return nil
}

func (c *Collector) closedErr(r *request) Result {
	return Result{Outcome: Failed, Size: r.size.Load(), Err: fmt.Errorf("evidence for %s: %w", r.Path, ErrClosed)}
}

// work serves the queue until Close, then settles what is left in it.
func (c *Collector) work() {
	defer c.workers.Done()
	for {
		select {
		case r := <-c.queue:
			if c.stopped() {
				c.settleFrom(r, c.closedErr(r))
				continue
			}
			c.serve(r)
		case <-c.stop:
			for {
				select {
				case r := <-c.queue:
					c.settleFrom(r, c.closedErr(r))
				default:
					return
				}
			}
		}
	}
}

func (c *Collector) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// job is one read running on its own goroutine.
type job struct {
	finished  chan struct{}
	mu        sync.Mutex
	returned  bool // the goroutine is done
	abandoned bool // the worker stopped waiting for it (counted in hung)
}

// serve reads r on a goroutine of its own and waits for it until r is
// settled from outside (deadline, Close): then the read is abandoned and,
// while it is still running, counted as hung.
func (c *Collector) serve(r *request) {
	if r.state.Load() != statePending {
		return // expired in the queue
	}
	if n := c.hung.Load(); n >= c.hungCap {
		c.settleFrom(r, Result{Outcome: Failed, Err: fmt.Errorf(
			"evidence for %s: not read: %d earlier reads are still stuck in the kernel (at most %d; a client drive or FUSE mount is hanging reads)",
			r.Path, n, c.hungCap)})
		return
	}
	j := &job{finished: make(chan struct{})}
	r.mu.Lock()
	if r.state.Load() != statePending {
		r.mu.Unlock()
		return
	}
	r.job = j // from here on, whoever settles r from outside abandons j
	r.mu.Unlock()
	go c.run(r, j)
	select {
	case <-j.finished:
	case <-r.abort:
	case <-c.stop:
		c.settleFrom(r, c.closedErr(r))
	}
}

// run is the job's goroutine: gather, then claim r and keep the copy, or
// throw the work away when r was settled meanwhile.
func (c *Collector) run(r *request, j *job) {
	defer func() {
		j.mu.Lock()
		j.returned = true
		if j.abandoned {
			c.hung.Add(-1)
		}
		j.mu.Unlock()
		close(j.finished)
	}()
	res, g := c.gather(r)
	if !r.claim() {
		g.discard()
		if j.abandonedNow() {
			c.log.Info("evidence: an abandoned read returned", "path", r.Path, "outcome", res.Outcome.String())
		}
		return
	}
	r.timer.Stop()
	if res.Outcome == Hashed && g.tmpPath != "" {
		path, kept, evicted, err := c.dir.keep(g, res, r)
		res.EvidencePath = path
		if err != nil {
			res.Err = err
		}
		c.cmu.Lock()
		if kept {
			c.counters.Kept++
		}
		c.counters.Evicted += uint64(evicted)
		c.cmu.Unlock()
	} else {
		g.discard()
	}
	if res.Outcome == Hashed && res.Err == nil && g.copyErr != nil {
		res.Err = g.copyErr
	}
	c.deliver(r, res)
}

func (j *job) abandonedNow() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.abandoned
}
