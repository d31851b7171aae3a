package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// Header is one header sent with every request to an endpoint (gRPC
// metadata for gRPC endpoints, where the name is lower-cased).
type Header struct {
	Name  string
	Value string
}

// RemoteConfig is what every endpoint target shares.
//
// Header values are treated as secrets: they never appear in an error
// message, a FirstError or a TargetInfo, and Redact scrubs them (and
// SecretValues) from any text the command layer is about to print or save.
type RemoteConfig struct {
	// Name is "production", "candidate" or the model's name.
	Name string
	// URL is the endpoint; its form depends on the protocol (see the
	// constructors). Userinfo in it is sent as basic auth and redacted.
	URL     string
	Headers []Header
	// SecretValues are more strings to scrub from messages, for secrets
	// that are not header values (the CLI adds the values of
	// --secret-header environment variables here too).
	SecretValues []string
	// CACert is a PEM file of CAs to trust besides the system's.
	CACert string
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// ReadyTimeout bounds the wait for the endpoint to report ready before
	// the target is returned; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Concurrency is the most calls the run will have in flight; it sizes
	// the pool of kept-alive connections (0: a generous default).
	Concurrency int
	// Seed seeds the Poisson arrival schedule of open-loop blocks, so a run
	// can be repeated call for call.
	Seed uint64
}

const (
	// DefaultTimeout is the per-request timeout when none is configured.
	DefaultTimeout = 30 * time.Second
	// DefaultReadyTimeout is how long a target waits for its endpoint to
	// report ready when no ReadyTimeout is configured.
	DefaultReadyTimeout = 60 * time.Second
	// LateThreshold is how far behind its slot an open-loop call may start,
	// for want of a free caller, before it counts as late. Below it is
	// timer and scheduling jitter, not back-pressure.
	LateThreshold = time.Millisecond
	// openLoopCallers caps the callers of an open-loop block that sets no
	// Concurrency: enough to ride out a long stall at a high rate without
	// letting a dead endpoint pile up unbounded work.
	openLoopCallers = 256
	// minUnanswered is the fewest consecutive unanswered calls that end a
	// run (with a whole block unanswered): one timed-out call in a block of
	// one is a slow tail, not a dead endpoint.
	minUnanswered = 3
)

const redactedMark = "<redacted>"

func (c RemoteConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c RemoteConfig) readyTimeout() time.Duration {
	if c.ReadyTimeout > 0 {
		return c.ReadyTimeout
	}
	return DefaultReadyTimeout
}

// Redacted returns a copy that is safe to print or store: header values
// and secret values replaced, the URL stripped of userinfo and query.
func (c RemoteConfig) Redacted() RemoteConfig {
	out := c
	out.URL = RedactURL(c.URL)
	out.Headers = make([]Header, len(c.Headers))
	for i, h := range c.Headers {
		out.Headers[i] = Header{Name: h.Name, Value: redactedMark}
	}
	out.SecretValues = nil
	return out
}

// Secrets lists the strings that must never be shown: header values (and
// the credential in a "Scheme credential" value on its own), secret
// values, and the password in the URL's userinfo. Longest first, so that
// Redact replaces a value before any part of it.
func (c RemoteConfig) Secrets() []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" {
			out = append(out, s)
		}
	}
	for _, h := range c.Headers {
		add(h.Value)
		if i := strings.LastIndexByte(strings.TrimSpace(h.Value), ' '); i >= 0 {
			add(strings.TrimSpace(h.Value)[i+1:])
		}
	}
	for _, s := range c.SecretValues {
		add(s)
	}
	if u, err := url.Parse(c.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		add(u.User.String())
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return slices.Compact(out)
}

// Redact replaces every secret of the config that occurs in s.
func (c RemoteConfig) Redact(s string) string {
	return redactWith(c.Secrets(), s)
}

func redactWith(secrets []string, s string) string {
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redactedMark)
		}
	}
	return s
}

// RedactURL returns the URL without userinfo, query or fragment, the form
// in which infergate quotes endpoints (a query string can carry an API key).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}

// remoteClient is one protocol's half of a remote target: how to encode a
// batch, make one call, and check its answer.
type remoteClient interface {
	// prepare encodes a batch into a request once, before any timing.
	prepare(b BlockBatch) (any, error)
	// call sends one request and waits for the whole answer: this is what
	// is timed. It must be safe for concurrent use with distinct bufs.
	call(ctx context.Context, req any, buf *callBuf) error
	// check validates the answer left in buf, after timing.
	check(req any, buf *callBuf) error
	close()
}

// callBuf is one caller's reusable space for answers.
type callBuf struct {
	body []byte
	// resp is a protocol's decoded answer, when it keeps one.
	resp any
}

type preparedBatch struct {
	rows   int64
	size   float64
	bucket int
	first  int64 // dataset row of the first row
	class  string
	req    any
}

// remoteTarget runs blocks against an endpoint from this process; latency
// is timed here, around each request, on the monotonic clock.
type remoteTarget struct {
	info    TargetInfo
	client  remoteClient
	timeout time.Duration
	secrets []string
	batches []preparedBatch
	// open is the histogram of a round being recorded across blocks, and
	// openSizes the same by input size.
	open      *result.Histogram
	openSizes *sizeRec
	// callers are kept between blocks so their buffers are reused.
	callers []*caller
	rng     *rand.Rand
	// unanswered counts consecutive calls that got no answer at all, across
	// blocks.
	unanswered int64
	closeOnce  sync.Once
}

func newRemoteTarget(cfg RemoteConfig, kind string, client remoteClient) *remoteTarget {
	return &remoteTarget{
		info:    TargetInfo{Name: cfg.Name, Kind: kind, Model: RedactURL(cfg.URL)},
		client:  client,
		timeout: cfg.timeout(),
		secrets: cfg.Secrets(),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x1f2e3d4c)),
	}
}

func (t *remoteTarget) Info() TargetInfo { return t.info }

func (t *remoteTarget) Close() error {
	t.closeOnce.Do(t.client.close)
	return nil
}

// caller is one goroutine's share of a block.
type caller struct {
	buf callBuf
	lat []int64 // latencies of successful calls, when recording
	// at are the batches of those calls, for the breakdown by input size;
	// failed are the batches of failed calls.
	at, failed []int32

	ok, rows, errs, late int64
	kinds                map[string]int64
	errIn                errRec // failed calls by input class, example rows
	firstErr             string
	firstErrAt           time.Time
	firstDetail          string // firstErr with the server's words
	first, last          time.Time
	// answered: some call got an answer (even an error status); trailing
	// counts the unanswered calls after the last answer.
	answered bool
	trailing int64
	leading  int64 // unanswered calls before the first answer
}

func (c *caller) reset() {
	buf := c.buf
	lat, at, failed := c.lat[:0], c.at[:0], c.failed[:0]
	*c = caller{buf: buf, lat: lat, at: at, failed: failed}
}

func (t *remoteTarget) Run(ctx context.Context, blk Block) (BlockResult, error) {
	if blk.Batches != nil {
		prepared := make([]preparedBatch, len(blk.Batches))
		for i, b := range blk.Batches {
			req, err := t.client.prepare(b)
			if err != nil {
				return BlockResult{}, errkind.Input(errors.New(redactWith(t.secrets, err.Error())))
			}
			prepared[i] = preparedBatch{rows: int64(b.Rows), size: b.Size, bucket: b.Bucket, first: b.FirstRow, class: b.Class, req: req}
		}
		t.batches = prepared
	}
	if len(t.batches) == 0 {
		return BlockResult{}, errors.New("bench: block without batches")
	}
	conc := blk.Concurrency
	if conc <= 0 {
		conc = 1
		if blk.Rate > 0 {
			conc = openLoopCallers
		}
	}
	for len(t.callers) < conc {
		t.callers = append(t.callers, &caller{})
	}
	callers := t.callers[:conc]
	for _, c := range callers {
		c.reset()
	}
	if blk.Rate > 0 {
		t.openLoop(ctx, blk, callers)
	} else {
		t.closedLoop(ctx, blk, callers)
	}
	if err := ctx.Err(); err != nil {
		return BlockResult{}, err
	}
	return t.collect(blk, callers)
}

// closedLoop issues calls back to back from each caller, the way the ONNX
// worker's callLoop does.
func (t *remoteTarget) closedLoop(ctx context.Context, blk Block, callers []*caller) {
	var next atomic.Int64
	var deadline time.Time
	if blk.Requests <= 0 {
		deadline = time.Now().Add(blk.Duration)
	}
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if blk.Requests > 0 && i >= blk.Requests {
					return
				}
				if blk.Requests <= 0 && i > 0 && !time.Now().Before(deadline) {
					return
				}
				t.do(ctx, c, blk, i, time.Time{}, false)
			}
		})
	}
	wg.Wait()
}

// do makes call i of the block. intended is the open-loop slot (zero in a
// closed loop): latency runs from it, not from when a caller got free, so
// time spent queued behind a stalled server counts.
func (t *remoteTarget) do(ctx context.Context, c *caller, blk Block, i int64, intended time.Time, queued bool) {
	bi := (blk.Offset + i) % int64(len(t.batches))
	b := &t.batches[bi]
	cctx, cancel := context.WithTimeout(ctx, t.timeout)
	t0 := time.Now()
	err := t.client.call(cctx, b.req, &c.buf)
	t1 := time.Now()
	cancel()
	if c.first.IsZero() {
		c.first = t0
	}
	c.last = t1
	if queued && t0.Sub(intended) > LateThreshold {
		c.late++
	}
	if err == nil {
		err = t.client.check(b.req, &c.buf)
	}
	if err != nil {
		if ctx.Err() != nil {
			return // the run is ending; not the endpoint's failure
		}
		kind := classifyTransport(err)
		c.errs++
		if blk.Record {
			c.failed = append(c.failed, int32(bi))
		}
		if c.kinds == nil {
			c.kinds = map[string]int64{}
		}
		c.kinds[kind]++
		c.errIn.fail(kind, b.class, b.first)
		if c.firstErr == "" {
			c.firstErr, c.firstErrAt, c.firstDetail = reportable(err), t0, err.Error()
		}
		if unanswered(kind) {
			c.trailing++
			if !c.answered {
				c.leading++
			}
			return
		}
	} else {
		c.ok++
		c.rows += b.rows
		if blk.Record {
			from := t0
			if !intended.IsZero() {
				from = intended
			}
			c.lat = append(c.lat, int64(t1.Sub(from)))
			c.at = append(c.at, int32(bi))
		}
	}
	c.answered = true
	c.trailing = 0
}

// collect sums the callers' shares into the block's result.
func (t *remoteTarget) collect(blk Block, callers []*caller) (BlockResult, error) {
	var res BlockResult
	var first, last, firstErrAt time.Time
	answered := false
	var leading, trailing int64
	for _, c := range callers {
		res.Requests += c.ok
		res.Rows += c.rows
		res.Errors += c.errs
		res.Late += c.late
		for k, v := range c.kinds {
			if res.ErrorsByKind == nil {
				res.ErrorsByKind = map[string]int64{}
			}
			res.ErrorsByKind[k] += v
		}
		res.ErrorsByClass, res.ErrorExamples = mergeErrors(res.ErrorsByClass, res.ErrorExamples, c.errIn.byClass, c.errIn.examples)
		if c.firstErr != "" && (res.FirstError == "" || c.firstErrAt.Before(firstErrAt)) {
			res.FirstError, firstErrAt, res.FirstErrorDetail = c.firstErr, c.firstErrAt, c.firstDetail
		}
		if !c.first.IsZero() && (first.IsZero() || c.first.Before(first)) {
			first = c.first
		}
		if c.last.After(last) {
			last = c.last
		}
		answered = answered || c.answered
		leading += c.leading
		trailing += c.trailing
	}
	if !first.IsZero() {
		res.Elapsed = last.Sub(first)
	}
	res.FirstError = redactWith(t.secrets, res.FirstError)
	res.FirstErrorDetail = redactWith(t.secrets, res.FirstErrorDetail)

	if blk.Record {
		if t.open == nil {
			t.open = result.NewHistogram()
		}
		if blk.SizeBuckets > 0 && t.openSizes == nil {
			t.openSizes = newSizeRec(blk.SizeBuckets)
		}
		for _, c := range callers {
			for j, ns := range c.lat {
				t.open.RecordNS(ns)
				if t.openSizes != nil {
					b := &t.batches[c.at[j]]
					t.openSizes.ok(b.bucket, b.size, ns)
				}
			}
			if t.openSizes != nil {
				for _, bi := range c.failed {
					t.openSizes.fail(t.batches[bi].bucket)
				}
			}
		}
		if !blk.Accumulate {
			res.Histogram = t.open
			res.SizeBuckets = t.openSizes.results()
			t.open, t.openSizes = nil, nil
		}
	}

	// A whole block without one answer, on top of what went unanswered
	// before it, is an endpoint that is down, not a slow one.
	if answered {
		t.unanswered = trailing
	} else {
		t.unanswered += leading
		if res.Errors > 0 && t.unanswered >= minUnanswered {
			return res, errkind.Run(fmt.Errorf("endpoint %s is not answering: the last %d calls failed (%s)",
				t.info.Model, t.unanswered, res.FirstError))
		}
	}
	return res, nil
}

// openLoop starts calls on a schedule fixed in advance and hands each to
// a free caller; when every caller is busy the schedule waits, and the
// call's latency still runs from its slot.
func (t *remoteTarget) openLoop(ctx context.Context, blk Block, callers []*caller) {
	type slot struct {
		i      int64
		at     time.Time
		queued bool
	}
	slots := make(chan slot)
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			for s := range slots {
				t.do(ctx, c, blk, s.i, s.at, s.queued)
			}
		})
	}
	defer func() {
		close(slots)
		wg.Wait()
	}()

	sched := newSchedule(blk.Rate, blk.Arrival, t.rng)
	start := time.Now()
	var deadline time.Time
	if blk.Requests <= 0 {
		deadline = start.Add(blk.Duration)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		if blk.Requests > 0 && i >= blk.Requests {
			return
		}
		at := start.Add(sched.offset(i))
		if blk.Requests <= 0 && i > 0 && !at.Before(deadline) {
			return // a duration block stops scheduling at its deadline
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		s := slot{i: i, at: at}
		select {
		case slots <- s:
			continue
		default:
		}
		// Every caller is busy: wait for one, and let the call know it was
		// held back so a late start counts.
		s.queued = true
		select {
		case slots <- s:
		case <-ctx.Done():
			return
		}
	}
}
