package plugin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tsclientwatch/tsclientwatch/detector"
	pb "github.com/tsclientwatch/tsclientwatch/plugin/proto/tsclientwatch/v1"
)

// Options configures Launch.
type Options struct {
	// Path is the plugin binary. It is made absolute, so it is never looked
	// up in $PATH.
	Path string
	// SHA256 is the expected checksum of the binary as 64 hex digits. The
	// file is verified before every launch.
	SHA256 string
	// AllowUnverified lets Launch run a plugin without SHA256. Meant for
	// development; anyone who can replace the file then runs code as the host.
	AllowUnverified bool
	// Config is pushed to the plugin after every launch.
	Config detector.Config
	// Logger receives go-plugin's messages and the plugin's own log lines.
	// Nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds one launch: process start, handshake, Configure.
	// Default 30s.
	StartTimeout time.Duration
	// BatchTimeout is how long a batch may wait for its answer before the
	// plugin is considered hung, killed and relaunched. Default 30s.
	BatchTimeout time.Duration
	// MaxRestarts is how many launches in a row may fail (the process does
	// not start, fails the checksum, the handshake or Configure) before the
	// client gives up for good; a launch that works resets the count.
	// Default 5. A plugin that starts but then dies is relaunched each
	// time; MaxBatchAttempts bounds what that costs each batch.
	MaxRestarts int
	// MaxBatchAttempts is how many times one batch may be sent to a plugin
	// that then dies or hangs before Detect gives up on it with an error
	// wrapping ErrBatchAbandoned. After its first attempt a batch is sent
	// alone, with no other batch in flight, so a batch that crashes the
	// plugin (a "poisoned" batch) is identified and dropped while the
	// batches that merely shared a stream with it are answered. Default 3.
	MaxBatchAttempts int
	// MaxBatch is the most events sent in one message; larger batches are
	// split. Default 4096.
	MaxBatch int
}

// ErrClosed is returned by Detect after Close.
var ErrClosed = errors.New("plugin client closed")

// ErrBatchAbandoned is returned (wrapped) by Detect when the plugin died or
// hung every time it was given one batch (Options.MaxBatchAttempts times):
// the events of that call get no verdict. The client stays usable.
var ErrBatchAbandoned = errors.New("batch abandoned")

// Client is the host side of a plugin: a detector.Detector that runs the
// rule in a supervised child process. It is safe for concurrent use;
// concurrent Detect calls share one stream and overlap in the plugin.
type Client struct {
	opts Options
	path string
	sum  []byte
	log  *slog.Logger
	seq  atomic.Uint64

	closeCh chan struct{}

	mu        sync.Mutex
	gen       *generation
	launching chan struct{} // closed when the launch in progress ends
	failures  int           // failed launches in a row
	deaths    int           // plugin deaths since the last answer (for the backoff)
	broken    error         // set once MaxRestarts is exceeded
	lastErr   error         // why the last relaunch failed
	closed    bool
	rule      detector.Rule
	version   string
	launches  int // successful launches, the first included
	resent    int // batches sent again after a plugin died
	abandoned int // batches given up after MaxBatchAttempts

	// quarantine lets a batch that was in flight when a plugin died be sent
	// again alone: ordinary sends share it, a retry holds it exclusively.
	// A retry waits at most for the batches in flight, each bounded by
	// BatchTimeout, and every wait ends with the caller's context.
	quarantine gate

	pool sync.Pool // *request
}

// Launch verifies the plugin file, starts it, pushes opts.Config and returns
// the client. Errors name the plugin path; a checksum mismatch wraps
// ErrChecksum. ctx bounds the first launch only; the plugin keeps running
// until Close.
func Launch(ctx context.Context, opts Options) (*Client, error) {
	if opts.Path == "" {
		return nil, errors.New("plugin: no plugin path given")
	}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", opts.Path, err)
	}
	c := &Client{opts: opts, path: path, log: opts.Logger, closeCh: make(chan struct{})}
	switch {
	case opts.SHA256 != "":
		if c.sum, err = parseChecksum(opts.SHA256); err != nil {
			return nil, err
		}
	case !opts.AllowUnverified:
		return nil, fmt.Errorf("plugin %s: no SHA-256 checksum given; refusing to run an unverified plugin (pass its sha256, or allow unverified plugins explicitly)", path)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.opts.StartTimeout <= 0 {
		c.opts.StartTimeout = 30 * time.Second
	}
	if c.opts.BatchTimeout <= 0 {
		c.opts.BatchTimeout = 30 * time.Second
	}
	if c.opts.MaxRestarts <= 0 {
		c.opts.MaxRestarts = 5
	}
	if c.opts.MaxBatchAttempts <= 0 {
		c.opts.MaxBatchAttempts = 3
	}
	if c.opts.MaxBatch <= 0 {
		c.opts.MaxBatch = 4096
	}
	c.opts.MaxBatch = min(c.opts.MaxBatch, MaxBatchEvents)
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	g, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	c.gen = g
	c.launches = 1
	if c.sum == nil {
		c.log.Warn("running an unverified plugin (no sha256 given)", "plugin", path)
	}
	return c, nil
}

// Info implements detector.Detector: the rule as the plugin reported it
// after Configure.
func (c *Client) Info() detector.Rule {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rule
}

// Version is the plugin build's version as it reported it.
func (c *Client) Version() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Restarts is how many times the plugin has been relaunched.
func (c *Client) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.launches-1, 0)
}

// Detect implements detector.Detector. Batches larger than Options.MaxBatch
// (or than a message may hold) go as several messages. If the plugin dies
// before answering, Detect relaunches it and sends the batch again, so each
// call returns one verdict per event or an error.
//
// One bad event never costs the others their verdicts: an event too large
// for a message is not sent, and a batch the plugin refuses, or dies on
// every time it is sent, is split in halves until the events at fault are
// alone. Detect then returns the detections among all the other events
// with a *detector.PartialError listing the events without a verdict (it
// wraps ErrBatchAbandoned when the plugin died on them). A batch that hangs
// the plugin is not split, since every attempt costs BatchTimeout: after
// MaxBatchAttempts it gets no verdict as a whole. Any other error (ctx
// ended, Close, a plugin that cannot be relaunched) fails the whole call.
func (c *Client) Detect(ctx context.Context, batch []detector.Event, out []detector.Detection) ([]detector.Detection, error) {
	base := len(out)
	var failed unjudged
	for start := 0; start < len(batch); {
		end, tooBig := c.chunkEnd(batch, start)
		if tooBig != nil {
			failed.add(start, 1, tooBig)
			start++
			continue
		}
		var err error
		out, err = c.judge(ctx, batch[start:end], start, c.opts.MaxBatchAttempts, false, out, &failed)
		if err != nil {
			return out[:base], err
		}
		start = end
	}
	return out, failed.err()
}

// unjudged collects the events Detect could not get a verdict for.
type unjudged struct {
	idx   []int
	first error
}

func (u *unjudged) add(offset, n int, err error) {
	for i := range n {
		u.idx = append(u.idx, offset+i)
	}
	if u.first == nil {
		u.first = err
	}
}

func (u *unjudged) err() error {
	if len(u.idx) == 0 {
		return nil
	}
	return &detector.PartialError{Unjudged: u.idx, Err: u.first}
}

// judge gets verdicts for chunk (the caller's events offset..), splitting
// it when the plugin refuses it or dies on it, so that only the events at
// fault go without a verdict. The first try of a chunk gets attempts
// attempts (alone says whether the first goes with no other batch in
// flight); a half of a chunk the plugin died on is tried once, alone, and a
// single event MaxBatchAttempts times, so a poisoned event is found at the
// cost of about one relaunch per halving.
func (c *Client) judge(ctx context.Context, chunk []detector.Event, offset, attempts int, alone bool, out []detector.Detection, failed *unjudged) ([]detector.Detection, error) {
	out, err := c.detectChunk(ctx, chunk, offset, attempts, alone, out)
	var pe *perEventError
	if err == nil || !errors.As(err, &pe) {
		return out, err
	}
	if len(chunk) == 1 || pe.hung || len(failed.idx) >= maxIsolated {
		failed.add(offset, len(chunk), pe.err)
		return out, nil
	}
	died := errors.Is(pe.err, ErrBatchAbandoned)
	half := len(chunk) / 2
	for _, part := range []struct {
		events []detector.Event
		offset int
	}{{chunk[:half], offset}, {chunk[half:], offset + half}} {
		n := c.opts.MaxBatchAttempts
		if died && len(part.events) > 1 {
			n = 1
		}
		if out, err = c.judge(ctx, part.events, part.offset, n, died, out, failed); err != nil {
			return out, err
		}
	}
	c.log.Warn("plugin could not judge a batch; judged it in parts", "plugin", c.path,
		"events", fmt.Sprintf("%d-%d", offset, offset+len(chunk)-1), "error", pe.err)
	return out, nil
}

// maxIsolated bounds the splitting in one Detect call: once this many
// events are known bad, the rest of a failing chunk goes without a verdict
// as a whole, so a plugin that refuses everything costs a few dozen round
// trips per call, not one per event.
const maxIsolated = 16

// perEventError marks a failure that is the batch's own doing, not the
// plugin's or the caller's: the plugin refused it, or died on it every
// time. Splitting the batch can isolate the events at fault.
type perEventError struct {
	err  error
	hung bool // the last attempt hung rather than died
}

func (e *perEventError) Error() string { return e.err.Error() }
func (e *perEventError) Unwrap() error { return e.err }

// chunkEnd picks the end of the message starting at start: at most MaxBatch
// events and an estimated encoding well under MaxMessageSize. When the
// event at start alone is over the limit, it returns that as an error.
func (c *Client) chunkEnd(batch []detector.Event, start int) (int, error) {
	const budget = MaxMessageSize / 2 // leaves room for the estimate's error
	size := 0
	end := start
	for end < len(batch) && end-start < c.opts.MaxBatch {
		n := eventSize(&batch[end])
		if n > budget {
			if end == start {
				return start, fmt.Errorf("plugin: event %d is about %d bytes, over the %d-byte message limit, and was not sent", start, n, budget)
			}
			break // it goes on its own next time, and is refused there
		}
		if size+n > budget {
			break
		}
		size += n
		end++
	}
	return end, nil
}

// eventSize over-estimates an event's encoded size: field contents plus a
// generous allowance for tags, lengths and varints. Strings that are not
// UTF-8 count three times: escaping can triple them (see toWire).
func eventSize(e *detector.Event) int {
	n := 100
	for _, s := range [...]string{e.Executable, e.CommandLine, e.WorkingDirectory, e.ParentExecutable,
		e.User, e.Host, e.HostOS, e.Source, e.SHA256, e.FSType} {
		if utf8.ValidString(s) {
			n += len(s)
		} else {
			n += 3 * len(s)
		}
	}
	return n
}

// request is a reusable encoded batch.
type request struct {
	msg    pb.DetectRequest
	events []pb.Event
	ptrs   []*pb.Event
}

func (c *Client) encode(chunk []detector.Event) *request {
	r, _ := c.pool.Get().(*request)
	if r == nil {
		r = new(request)
	}
	if cap(r.events) < len(chunk) {
		r.events = make([]pb.Event, len(chunk))
		r.ptrs = make([]*pb.Event, len(chunk))
		for i := range r.events {
			r.ptrs[i] = &r.events[i]
		}
	}
	for i := range chunk {
		eventToPB(&r.events[i], &chunk[i])
	}
	r.msg.Events = r.ptrs[:len(chunk)]
	return r
}

func (c *Client) release(r *request) {
	// Drop string references so pooled buffers do not pin event data.
	for i := range r.msg.Events {
		r.events[i] = pb.Event{}
	}
	r.msg.Events = nil
	c.pool.Put(r)
}

// detectChunk sends chunk (the caller's events offset..) in one message,
// relaunching the plugin and sending it again, alone, when the plugin dies,
// up to attempts times; the first attempt goes alone when firstAlone. A
// failure caused by the chunk itself (refused, or fatal every time) is a
// *perEventError.
func (c *Client) detectChunk(ctx context.Context, chunk []detector.Event, offset, attempts int, firstAlone bool, out []detector.Detection) ([]detector.Detection, error) {
	req := c.encode(chunk)
	defer c.release(req)
	for attempt := 1; ; attempt++ {
		alone := attempt > 1 || firstAlone
		var err error
		if alone {
			err = c.quarantine.enterAlone(ctx)
		} else {
			err = c.quarantine.enterShared(ctx)
		}
		if err != nil {
			return out, err
		}
		g, err := c.live(ctx)
		var resp *pb.DetectResponse
		if err == nil {
			resp, err = g.roundTrip(ctx, c.seq.Add(1), &req.msg, c.opts.BatchTimeout)
		}
		if alone {
			c.quarantine.leaveAlone()
		} else {
			c.quarantine.leaveShared()
		}
		if errors.Is(err, errDead) {
			c.retire(g)
			if attempt >= attempts {
				c.mu.Lock()
				c.abandoned++
				c.mu.Unlock()
				c.log.Error("plugin died on every attempt at a batch; giving up on it", "plugin", c.path,
					"events", len(chunk), "attempts", attempt, "error", g.cause())
				lone := attempt - 1
				if firstAlone {
					lone = attempt
				}
				return out, &perEventError{hung: errors.Is(err, errHung), err: fmt.Errorf("plugin %s: %w: events %d-%d got no verdict: the plugin died or hung each of the %d times it was given them (%d of them with no other batch in flight); last: %v",
					c.path, ErrBatchAbandoned, offset, offset+len(chunk)-1, attempt, lone, g.cause())}
			}
			c.mu.Lock()
			c.resent++
			c.mu.Unlock()
			continue // send the unanswered batch again, alone, to a new plugin
		}
		if err != nil {
			return out, err
		}
		c.answered()
		out, err = decodeResponse(resp, req.msg.Sequence, chunk, offset, out)
		if err != nil {
			err = fmt.Errorf("plugin %s: %w", c.path, err)
			if resp.GetError() != "" {
				// Refused: something in the batch; a protocol error is
				// the plugin's own and fails the call.
				err = &perEventError{err: err}
			}
			return out, err
		}
		return out, nil
	}
}

// decodeResponse turns the plugin's answer to batch seq (the events chunk,
// which start at offset in the caller's batch) into detections appended to
// out. Anything a correct plugin cannot send is refused as a protocol error
// and nothing is appended: a detection must never land on the wrong event.
func decodeResponse(resp *pb.DetectResponse, seq uint64, chunk []detector.Event, offset int, out []detector.Detection) ([]detector.Detection, error) {
	if resp.GetSequence() != seq {
		return out, fmt.Errorf("plugin protocol error: answer for batch %d received as the answer to batch %d", resp.GetSequence(), seq)
	}
	if msg := resp.GetError(); msg != "" {
		return out, fmt.Errorf("plugin refused the batch (events %d-%d): %s", offset, offset+len(chunk)-1, quoteLimited(msg, 1024))
	}
	dets := resp.GetDetections()
	if len(dets) > len(chunk) {
		return out, fmt.Errorf("plugin protocol error: %d detections for a %d-event batch", len(dets), len(chunk))
	}
	base := len(out)
	next := 0
	for _, d := range dets {
		i := int(d.GetIndex()) // uint32: never negative
		if i >= len(chunk) {
			return out[:base], fmt.Errorf("plugin protocol error: detection for event %d of a %d-event batch", i, len(chunk))
		}
		if i < next {
			return out[:base], fmt.Errorf("plugin protocol error: detection for event %d after one for event %d (indexes must increase)", i, next-1)
		}
		form, err := formFromPB(d.GetForm())
		if err != nil {
			return out[:base], fmt.Errorf("plugin protocol error: detection for event %d: %w", offset+i, err)
		}
		drive, share, rule := detectionStrings(d)
		out = append(out, detector.Detection{
			Event:       chunk[i],
			Form:        form,
			ClientDrive: drive,
			SharePath:   share,
			RuleID:      rule,
		})
		next = i + 1
	}
	return out, nil
}

// quoteLimited quotes text from the plugin for an error message: escaped, so
// it cannot forge log lines, and cut to at most limit bytes.
func quoteLimited(s string, limit int) string {
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	return strconv.Quote(strings.ToValidUTF8(s[:limit], "")) + fmt.Sprintf(" (%d more bytes)", len(s)-limit)
}

func (c *Client) answered() {
	c.mu.Lock()
	c.deaths = 0
	c.mu.Unlock()
}

// retire forgets a dead generation and kills what is left of it. Of all the
// callers that saw it die, only the first does the work.
func (c *Client) retire(g *generation) {
	c.mu.Lock()
	if c.gen != g {
		c.mu.Unlock()
		return
	}
	c.gen = nil
	c.deaths++
	c.mu.Unlock()
	c.log.Warn("plugin died; relaunching", "plugin", c.path, "error", g.cause())
	g.kill()
}

// live returns the running generation, launching a new one (after a backoff
// that grows with consecutive failures) when there is none.
func (c *Client) live(ctx context.Context) (*generation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return nil, ErrClosed
		case c.broken != nil:
			return nil, c.broken
		case c.gen != nil && !c.gen.dead():
			return c.gen, nil
		case c.gen != nil:
			// Dead but not yet retired: retire it here.
			g := c.gen
			c.mu.Unlock()
			c.retire(g)
			c.mu.Lock()
			continue
		case c.launching != nil:
			ch := c.launching
			c.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				c.mu.Lock()
				return nil, ctx.Err()
			}
			c.mu.Lock()
			continue
		}
		if c.failures > c.opts.MaxRestarts {
			c.broken = fmt.Errorf("plugin %s: gave up after %d failed relaunches in a row (last: %v)", c.path, c.opts.MaxRestarts, c.lastErr)
			continue
		}
		ch := make(chan struct{})
		c.launching = ch
		failures := c.failures + c.deaths
		c.mu.Unlock()
		g, err := c.relaunch(ctx, failures)
		c.mu.Lock()
		if err == nil && c.closed {
			c.mu.Unlock()
			g.kill()
			c.mu.Lock()
		} else if err == nil {
			c.gen = g
			c.launches++
			c.failures = 0
		} else if ctx.Err() == nil {
			c.failures++
			c.lastErr = err
			c.log.Warn("plugin relaunch failed", "plugin", c.path, "attempt", failures, "error", err)
		}
		c.launching = nil
		close(ch)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// backoff is the pause before relaunch attempt n (1-based): 50ms doubling,
// at most 2s.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond << min(n-1, 6)
	return min(d, 2*time.Second)
}

func (c *Client) relaunch(ctx context.Context, failures int) (*generation, error) {
	if failures > 0 {
		t := time.NewTimer(backoff(failures))
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closeCh:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.start(ctx)
}

// start verifies the file and launches one plugin process: handshake,
// Configure, Info and the Detect stream.
func (c *Client) start(ctx context.Context) (*generation, error) {
	real, err := checkFile(c.path, c.sum)
	if err != nil {
		return nil, err
	}
	// Run the resolved file that was checked, not a link that may have
	// been re-pointed since.
	cmd := exec.Command(real)
	procAttr(cmd)
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: versionedPlugins(nil),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           newHCLogger(c.log),
		StartTimeout:     c.opts.StartTimeout,
		GRPCDialOptions:  clientLimits(),
	}
	if c.sum != nil {
		// go-plugin checks again right before exec, which narrows the
		// window between our check and the exec.
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: c.sum, Hash: sha256.New()}
	}
	pc := goplugin.NewClient(cfg)
	g, err := c.connect(ctx, pc)
	if err != nil {
		pc.Kill()
		return nil, err
	}
	return g, nil
}

func (c *Client) connect(ctx context.Context, pc *goplugin.Client) (*generation, error) {
	// go-plugin's start cannot be cancelled; run it aside so ctx still
	// bounds the wait (Kill in start then ends the process).
	type result struct {
		cp  goplugin.ClientProtocol
		err error
	}
	done := make(chan result, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseThread := func() { releaseOnce.Do(func() { close(release) }) }
	go func() {
		// Linux sends the parent-death signal when the thread that
		// forked the plugin exits, not the process, and Go ends a thread
		// when a goroutine locked to it returns. Forking from a thread
		// held here until the plugin is done keeps an unrelated
		// LockOSThread user in the host from killing the plugin.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cp, err := pc.Client()
		done <- result{cp, err}
		<-release
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		pc.Kill()
		<-done
		releaseThread()
		return nil, fmt.Errorf("plugin %s: launch: %w", c.path, ctx.Err())
	}
	ok := false
	defer func() {
		if !ok {
			releaseThread() // start kills the process
		}
	}()
	if r.err != nil {
		return nil, c.startError(r.err)
	}
	raw, err := r.cp.Dispense(Name)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", c.path, err)
	}
	rpc, isDetector := raw.(pb.DetectorClient)
	if !isDetector {
		return nil, fmt.Errorf("plugin %s: unexpected client type %T", c.path, raw)
	}
	cctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	conf, err := rpc.Configure(cctx, &pb.ConfigureRequest{Config: configToPB(c.opts.Config)})
	if err != nil {
		if s, ok := status.FromError(err); ok && s.Code() == codes.InvalidArgument {
			return nil, fmt.Errorf("plugin %s refused the configuration: %s", c.path, s.Message())
		}
		return nil, fmt.Errorf("plugin %s: configure: %w", c.path, err)
	}
	info, err := rpc.Info(cctx, &pb.InfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: info: %w", c.path, err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	stream, err := rpc.Detect(sctx)
	if err != nil {
		scancel()
		return nil, fmt.Errorf("plugin %s: open detect stream: %w", c.path, err)
	}
	c.mu.Lock()
	c.rule = ruleFromPB(conf.GetRule())
	c.version = info.GetPluginVersion()
	c.mu.Unlock()
	g := &generation{
		pc:       pc,
		stream:   stream,
		cancel:   scancel,
		pending:  make(map[uint64]chan *pb.DetectResponse),
		done:     make(chan struct{}),
		recvDone: make(chan struct{}),
		log:      c.log,
		release:  releaseThread,
	}
	if rc := pc.ReattachConfig(); rc != nil {
		g.pid = rc.Pid
	}
	ok = true
	go g.receive()
	c.log.Debug("plugin launched", "plugin", c.path, "pid", g.pid, "version", c.version, "protocol", pc.NegotiatedVersion())
	return g, nil
}

// startError turns go-plugin's start errors into messages that say what the
// plugin did wrong.
func (c *Client) startError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%w: plugin %s changed between verification and launch", ErrChecksum, c.path)
	case strings.HasPrefix(msg, "Unrecognized remote plugin message:"):
		line, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message:"), "\n")
		line = strings.TrimSpace(line)
		if line == "" {
			return fmt.Errorf("plugin %s exited without completing the go-plugin handshake (is it a tsclientwatch plugin? its standard error is in the host log)", c.path)
		}
		return fmt.Errorf("plugin %s wrote %q to standard output instead of the go-plugin handshake: a plugin must not print to standard output before plugin.Serve (log to standard error)", c.path, line)
	case strings.HasPrefix(msg, "error parsing core protocol version"):
		return fmt.Errorf("plugin %s: its first line on standard output is not a go-plugin handshake (%v): a plugin must not print to standard output before plugin.Serve (log to standard error)", c.path, err)
	case strings.Contains(msg, "plugin exited before we could connect"):
		return fmt.Errorf("plugin %s exited before completing the go-plugin handshake (is it a tsclientwatch plugin? its standard error is in the host log)", c.path)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s did not complete the go-plugin handshake within %s", c.path, c.opts.StartTimeout)
	case strings.Contains(msg, "Incompatible API version"):
		return fmt.Errorf("plugin %s speaks another protocol version than this host (%d): %v", c.path, ProtocolVersion, err)
	}
	return fmt.Errorf("plugin %s: start: %w", c.path, err)
}

// Close stops the plugin and waits for its process to exit. Detect calls in
// flight fail with ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closeCh)
	g := c.gen
	c.gen = nil
	// A launch in progress kills its own plugin once it sees closed; wait
	// for it so no process outlives Close.
	for c.launching != nil {
		ch := c.launching
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	c.mu.Unlock()
	if g != nil {
		g.fail(ErrClosed)
		g.kill()
	}
	return nil
}

// clientLimits caps messages on the host side: a larger answer fails the
// stream with ResourceExhausted (the generation is then treated as dead and
// the batch retried, at most MaxBatchAttempts times).
func clientLimits() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize),
		grpc.MaxCallSendMsgSize(MaxMessageSize),
	)}
}

// procAttr sets OS-specific process attributes on the plugin command; a
// variable so a test can launch without the parent-death signal and see the
// plugin's own watchdog at work.
var procAttr = setProcAttr

// errDead says the plugin went away before answering; errHung that it was
// killed for not answering in time.
var (
	errDead = errors.New("plugin went away")
	errHung = fmt.Errorf("%w: hung", errDead)
)

// generation is one plugin process and its Detect stream.
type generation struct {
	pc       *goplugin.Client
	pid      int
	stream   pb.Detector_DetectClient
	cancel   context.CancelFunc
	log      *slog.Logger
	release  func() // lets the thread that forked the plugin go
	sendMu   sync.Mutex
	recvDone chan struct{}

	mu      sync.Mutex
	pending map[uint64]chan *pb.DetectResponse
	err     error
	done    chan struct{}
}

func (g *generation) dead() bool {
	select {
	case <-g.done:
		return true
	default:
		return g.pc.Exited()
	}
}

// fail marks the generation dead with its first cause and ends the stream.
func (g *generation) fail(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
		close(g.done)
	}
	g.mu.Unlock()
	g.cancel()
}

func (g *generation) cause() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *generation) kill() {
	g.fail(errDead)
	g.pc.Kill()
	g.release()
	<-g.recvDone
}

// receive routes each answer to the caller waiting for its sequence number.
func (g *generation) receive() {
	defer close(g.recvDone)
	for {
		r, err := g.stream.Recv()
		if err != nil {
			g.fail(err)
			return
		}
		g.mu.Lock()
		ch := g.pending[r.GetSequence()]
		delete(g.pending, r.GetSequence())
		g.mu.Unlock()
		if ch == nil {
			// The caller gave up (its ctx ended); nobody wants this answer.
			g.log.Debug("dropping answer to an abandoned batch", "sequence", r.GetSequence())
			continue
		}
		ch <- r
	}
}

// roundTrip sends one batch and waits for its answer. It returns errDead
// (wrapped) when the plugin went away or hung before answering.
func (g *generation) roundTrip(ctx context.Context, seq uint64, req *pb.DetectRequest, timeout time.Duration) (*pb.DetectResponse, error) {
	ch := make(chan *pb.DetectResponse, 1)
	g.mu.Lock()
	if g.err != nil {
		g.mu.Unlock()
		return nil, errDead
	}
	g.pending[seq] = ch
	g.mu.Unlock()
	forget := func() {
		g.mu.Lock()
		delete(g.pending, seq)
		g.mu.Unlock()
	}

	req.Sequence = seq
	g.sendMu.Lock()
	err := g.stream.Send(req)
	g.sendMu.Unlock()
	if err != nil {
		forget()
		g.fail(err)
		return nil, fmt.Errorf("%w: send: %v", errDead, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-g.done:
		// The answer may have arrived just before the stream ended; an
		// answered batch must not be judged twice.
		select {
		case r := <-ch:
			return r, nil
		default:
		}
		forget()
		return nil, fmt.Errorf("%w: %v", errDead, g.cause())
	case <-t.C:
		forget()
		g.fail(fmt.Errorf("no answer to batch %d within %s", seq, timeout))
		return nil, errHung
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}
