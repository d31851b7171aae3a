package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/errkind"
)

// defaultIdleConns is the least number of kept-alive connections per host:
// more than any sane closed loop, and free until used.
const defaultIdleConns = 256

// tlsConfig builds the client TLS settings: verification on unless
// Insecure, the system roots plus CACert.
func tlsConfig(cfg RemoteConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure} //nolint:gosec // only on request
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, errkind.Input(fmt.Errorf("CA certificate %s: %v", cfg.CACert, errors.Unwrap(err)))
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errkind.Input(fmt.Errorf("CA certificate %s: no PEM certificate in it", cfg.CACert))
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// httpEndpoint is what the HTTP kinds share: a client whose connection
// pool fits the concurrency, the headers, and how to quote the endpoint.
type httpEndpoint struct {
	client    *http.Client
	transport *http.Transport
	// header goes with GETs, jsonHeader with JSON bodies. Client.Do never
	// writes to a request's Header (it copies before adding basic auth),
	// so every call shares them.
	header, jsonHeader http.Header
	secrets            []string
}

func newHTTPEndpoint(cfg RemoteConfig) (*httpEndpoint, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	idle := max(cfg.Concurrency, defaultIdleConns)
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		// Every caller keeps its connection between calls: a closed loop
		// that had to reconnect would time handshakes, not the model.
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		// Bodies are timed as sent; a gzip round trip would be the
		// client's cost, not the endpoint's.
		DisableCompression: true,
	}
	h := http.Header{}
	for _, kv := range cfg.Headers {
		h.Add(kv.Name, kv.Value)
	}
	jh := h.Clone()
	if jh.Get("Content-Type") == "" {
		jh.Set("Content-Type", "application/json")
	}
	return &httpEndpoint{
		client:     &http.Client{Transport: tr},
		header:     h,
		jsonHeader: jh,
		transport:  tr,
		secrets:    cfg.Secrets(),
	}, nil
}

func (e *httpEndpoint) close() { e.transport.CloseIdleConnections() }

// do sends one request and reads the whole answer into buf.body. A non-2xx
// status is an error carrying the start of the body. u is parsed once, by
// the caller, and shared read-only by every call, as is header.
func (e *httpEndpoint) do(ctx context.Context, method string, u *url.URL, body []byte, header http.Header, buf *callBuf) error {
	// Built by hand rather than by http.NewRequestWithContext, which
	// parses the URL again on every call: at tens of thousands of calls a
	// second on a shared machine, the client's own cost is the server's
	// loss.
	req := &http.Request{
		Method: method, URL: u, Host: u.Host, Header: header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := e.client.Do(req.WithContext(ctx))
	if err != nil {
		return e.transportError(method, u, err)
	}
	buf.body, err = readAll(resp.Body, buf.body[:0])
	resp.Body.Close()
	if err != nil {
		return e.transportError(method, u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpStatusError(resp.StatusCode, redactWith(e.secrets, snippet(buf.body)))
	}
	return nil
}

// transportError says what went wrong without the URL's userinfo or query,
// which net/http's url.Error would quote.
func (e *httpEndpoint) transportError(method string, u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	kind := classifyTransport(err)
	why := err.Error()
	if kind == ErrKindTimeout && errors.Is(err, context.DeadlineExceeded) {
		why = "no answer within the request timeout"
	}
	return &callError{kind: kind, msg: redactWith(e.secrets, fmt.Sprintf("%s %s: %s", method, RedactURL(u.String()), why))}
}

// readAll reads r to the end into buf, reusing its space.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// snippet is the start of a response body on one line, for messages.
func snippet(b []byte) string {
	const most = 200
	if len(b) > most {
		b = b[:most]
	}
	// A rune cut at the limit is dropped by ToValidUTF8.
	s := strings.Join(strings.Fields(string(bytes.ToValidUTF8(b, nil))), " ")
	if len(b) == most {
		s += "…"
	}
	return s
}

// get fetches u for metadata or readiness, with the per-request timeout.
func (e *httpEndpoint) get(ctx context.Context, u *url.URL, timeout time.Duration) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var buf callBuf
	err := e.do(cctx, http.MethodGet, u, nil, e.header, &buf)
	return buf.body, err
}

// waitReady polls ready until it reports true, the context ends, or
// timeout passes; the last failure says why it never did.
func waitReady(ctx context.Context, what string, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	wait := 50 * time.Millisecond
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if refusedCredentials(err) {
			return errkind.Input(fmt.Errorf("endpoint %s refused the request's credentials (%v): check --header", what, err))
		}
		if !time.Now().Add(wait).Before(deadline) {
			return errkind.Run(fmt.Errorf("endpoint %s never became ready within %v: %v", what, timeout, err))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, time.Second)
	}
}

// splitModelURL finds marker ("/v2/models/") in an endpoint URL and
// returns the server root before it, the model name, and the version when
// the URL names one (…/NAME/versions/V). Anything after the model (such as
// "/infer" or ":predict") is dropped.
func splitModelURL(raw, marker, example string) (root *url.URL, name, version string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", "", errkind.Input(fmt.Errorf("endpoint URL %s: want %s", RedactURL(raw), example))
	}
	i := strings.Index(u.Path, marker)
	if i < 0 {
		return nil, "", "", errkind.Input(fmt.Errorf("endpoint URL %s: want %s", RedactURL(raw), example))
	}
	rest := strings.Trim(u.Path[i+len(marker):], "/")
	parts := strings.Split(rest, "/")
	name = parts[0]
	if j := strings.IndexByte(name, ':'); j >= 0 {
		name = name[:j] // TF Serving's NAME:predict
	}
	if len(parts) >= 3 && parts[1] == "versions" {
		version = parts[2]
		if j := strings.IndexByte(version, ':'); j >= 0 {
			version = version[:j]
		}
	}
	if name == "" {
		return nil, "", "", errkind.Input(fmt.Errorf("endpoint URL %s names no model: want %s", RedactURL(raw), example))
	}
	root = &url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: u.Path[:i], RawQuery: u.RawQuery}
	return root, name, version, nil
}

// at is root joined with path (which starts with "/"), the root's query
// kept: an API key in a query string goes with every request.
func at(root *url.URL, path string) *url.URL {
	u := *root
	u.Path = strings.TrimSuffix(root.Path, "/") + path
	u.RawPath = ""
	return &u
}
