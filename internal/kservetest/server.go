package kservetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/infergate/infergate/internal/kservepb"
)

// Faults are what the server does wrong, each to a fraction of inference
// requests (metadata and health calls are never faulted). Fractions are
// exact and deterministic: with ErrorFraction 0.25, requests 4, 8, 12, …
// fail, counted per fault, whatever the order of arrival.
type Faults struct {
	// ErrorFraction of requests fail: HTTP 500, gRPC Internal.
	ErrorFraction float64
	// Latency is added to every request.
	Latency time.Duration
	// SlowFraction of requests take SlowLatency more (a slow tail).
	SlowFraction float64
	SlowLatency  time.Duration
	// DropFraction of requests lose their connection without an answer:
	// REST hijacks and closes it; gRPC closes the client's connection.
	DropFraction float64
	// StallFraction of requests never answer, until the client gives up.
	StallFraction float64
	// BadFraction of requests get a 200 / OK whose body breaks the
	// protocol (not JSON; no outputs).
	BadFraction float64
	// EchoErrors makes REST failures quote the start of the request in
	// their body, as some servers' validation errors do: a test that the
	// test set's values stay out of reports.
	EchoErrors bool
}

// Options configure a server.
type Options struct {
	// Model is what is served; nil is a SumModel with DefaultInputs.
	Model Model
	// ModelName is the model's name in URLs; "" is "sum".
	ModelName string
	Faults    Faults
	// PreciseLatency makes added latency exact to a few microseconds, by
	// spinning through the last 2 ms of it instead of trusting the timer
	// (which overshoots by up to a millisecond on some kernels); for
	// measuring a client's overhead, at low concurrency only.
	PreciseLatency bool
	// ReadyAfter: health and model readiness report not-ready until this
	// long after Start. NeverReady: never ready.
	ReadyAfter time.Duration
	NeverReady bool
	// TFServing serves TensorFlow Serving's REST API on the REST port
	// instead of KServe v2 (gRPC stays KServe v2).
	TFServing bool
	// RESTAddr and GRPCAddr are where to listen; "" is 127.0.0.1:0.
	RESTAddr, GRPCAddr string
	// TLS serves REST over HTTPS and gRPC over TLS, with a self-signed
	// certificate for 127.0.0.1 whose PEM is in Server.CACertPEM.
	TLS bool
	// RequireHeader, when set ("Authorization: Bearer x" as name and
	// value), rejects requests without it: HTTP 401, gRPC Unauthenticated.
	RequireHeader [2]string
}

// Server is a running test server; Close stops it.
type Server struct {
	opts    Options
	model   Model
	name    string
	started time.Time

	faults   atomic.Pointer[Faults]
	stallMu  sync.Mutex
	stallEnd time.Time
	stallC   chan struct{} // closed when the current stall ends

	requests atomic.Int64
	counters [5]atomic.Int64 // per fault: error, slow, drop, stall, bad

	restLn net.Listener
	tls    *tls.Config
	http   *http.Server
	grpcLn *trackingListener
	grpc   *grpc.Server
	wg     sync.WaitGroup
	// RESTURL is http://HOST:PORT of the REST side.
	RESTURL string
	// GRPCAddr is HOST:PORT of the gRPC side.
	GRPCAddr string
	// CACertPEM is the certificate that signs the REST side with TLS.
	CACertPEM []byte
}

const (
	faultError = iota
	faultSlow
	faultDrop
	faultStall
	faultBad
)

// Start starts both sides on loopback ports.
func Start(opts Options) (*Server, error) {
	if opts.Model == nil {
		opts.Model = &SumModel{}
	}
	if opts.ModelName == "" {
		opts.ModelName = "sum"
	}
	if opts.RESTAddr == "" {
		opts.RESTAddr = "127.0.0.1:0"
	}
	if opts.GRPCAddr == "" {
		opts.GRPCAddr = "127.0.0.1:0"
	}
	s := &Server{opts: opts, model: opts.Model, name: opts.ModelName, started: time.Now()}
	f := opts.Faults
	s.faults.Store(&f)

	var err error
	s.restLn, err = net.Listen("tcp", opts.RESTAddr)
	if err != nil {
		return nil, err
	}
	gl, err := net.Listen("tcp", opts.GRPCAddr)
	if err != nil {
		s.restLn.Close()
		return nil, err
	}
	s.grpcLn = &trackingListener{Listener: gl, conns: map[string]net.Conn{}}
	s.RESTURL = "http://" + s.restLn.Addr().String()
	if opts.TLS {
		cert, pemBytes, err := selfSigned()
		if err != nil {
			s.restLn.Close()
			gl.Close()
			return nil, err
		}
		s.CACertPEM = pemBytes
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.restLn = tls.NewListener(s.restLn, s.tls)
		s.RESTURL = "https://" + s.restLn.Addr().String()
	}
	s.GRPCAddr = gl.Addr().String()

	mux := http.NewServeMux()
	if opts.TFServing {
		s.tfRoutes(mux)
	} else {
		s.v2Routes(mux)
	}
	// Handshakes that tests make fail on purpose are not news.
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	gopts := []grpc.ServerOption{grpc.MaxRecvMsgSize(1 << 30), grpc.MaxSendMsgSize(1 << 30)}
	if s.tls != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(s.tls)))
	}
	s.grpc = grpc.NewServer(gopts...)
	kservepb.RegisterGRPCInferenceServiceServer(s.grpc, &grpcService{s: s})

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(s.restLn)
	}()
	go func() {
		defer s.wg.Done()
		_ = s.grpc.Serve(s.grpcLn)
	}()
	return s, nil
}

// Close stops both sides, cutting requests in flight.
func (s *Server) Close() {
	s.grpc.Stop()
	_ = s.http.Close()
	s.wg.Wait()
}

// ModelURL is the REST URL a target is given: …/v2/models/NAME, or
// …/v1/models/NAME in TF Serving mode.
func (s *Server) ModelURL() string {
	if s.opts.TFServing {
		return s.RESTURL + "/v1/models/" + s.name
	}
	return s.RESTURL + "/v2/models/" + s.name
}

// GRPCURL is grpc://HOST:PORT/NAME, grpcs:// with TLS.
func (s *Server) GRPCURL() string {
	if s.tls != nil {
		return "grpcs://" + s.GRPCAddr + "/" + s.name
	}
	return "grpc://" + s.GRPCAddr + "/" + s.name
}

// SetFaults changes the faults from the next request on.
func (s *Server) SetFaults(f Faults) { s.faults.Store(&f) }

// Requests is how many inference requests arrived.
func (s *Server) Requests() int64 { return s.requests.Load() }

// GRPCConnections is how many client connections are open on the gRPC
// side.
func (s *Server) GRPCConnections() int {
	s.grpcLn.mu.Lock()
	defer s.grpcLn.mu.Unlock()
	return len(s.grpcLn.conns)
}

// Stall makes every inference request that is in the server or arrives in
// the next d wait until d has passed: a server that stops answering for a
// while (a GC pause, a reload) and then catches up.
func (s *Server) Stall(d time.Duration) {
	s.stallMu.Lock()
	defer s.stallMu.Unlock()
	end := time.Now().Add(d)
	c := make(chan struct{})
	s.stallEnd, s.stallC = end, c
	time.AfterFunc(d, func() { close(c) })
}

func (s *Server) ready() bool {
	return !s.opts.NeverReady && time.Since(s.started) >= s.opts.ReadyAfter
}

// hit decides whether request n of a fault's count gets a fault of
// fraction f: exactly floor(n·f) of the first n do.
func (s *Server) hit(fault int, f float64) bool {
	if f <= 0 {
		return false
	}
	n := s.counters[fault].Add(1)
	return int64(float64(n)*f) > int64(float64(n-1)*f)
}

// outcome is what a request is to get.
type outcome int

const (
	answer outcome = iota
	fail
	drop
	stall
	bad
)

// admit applies the delaying faults and returns what the request gets.
// It returns early with ctx's error when the client gives up.
func (s *Server) admit(ctx context.Context) (outcome, error) {
	s.requests.Add(1)
	arrived := time.Now()
	f := s.faults.Load()
	s.stallMu.Lock()
	end, c := s.stallEnd, s.stallC
	s.stallMu.Unlock()
	if c != nil && arrived.Before(end) {
		select {
		case <-c:
		case <-ctx.Done():
			return answer, ctx.Err()
		}
	}
	if s.hit(faultStall, f.StallFraction) {
		<-ctx.Done()
		return stall, ctx.Err()
	}
	delay := f.Latency
	if s.hit(faultSlow, f.SlowFraction) {
		delay += f.SlowLatency
	}
	if delay > 0 {
		if err := s.sleep(ctx, arrived.Add(delay)); err != nil {
			return answer, err
		}
	}
	switch {
	case s.hit(faultDrop, f.DropFraction):
		return drop, nil
	case s.hit(faultError, f.ErrorFraction):
		return fail, nil
	case s.hit(faultBad, f.BadFraction):
		return bad, nil
	}
	return answer, nil
}

// sleep waits until the deadline, or the context's end.
func (s *Server) sleep(ctx context.Context, until time.Time) error {
	d := time.Until(until)
	if s.opts.PreciseLatency {
		d -= 2 * time.Millisecond
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	for s.opts.PreciseLatency && time.Now().Before(until) {
		runtime.Gosched()
	}
	return nil
}

// trackingListener remembers each accepted connection by its remote
// address, so a gRPC handler can drop the connection its call came on.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = c
	l.mu.Unlock()
	return &trackedConn{Conn: c, l: l}, nil
}

func (l *trackingListener) drop(remote string) error {
	l.mu.Lock()
	c, ok := l.conns[remote]
	l.mu.Unlock()
	if !ok {
		return errors.New("no such connection")
	}
	return c.Close()
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c.RemoteAddr().String())
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a
// day, and its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kservetest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}
