package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/kservepb"
)

// kserveGRPC speaks the Open Inference Protocol v2 over gRPC
// (inference.GRPCInferenceService).
type kserveGRPC struct {
	// conns are the pool's connections and clients their stubs; calls take
	// them in turn (next). client is the first, for control calls.
	conns   []*grpc.ClientConn
	clients []kservepb.GRPCInferenceServiceClient
	client  kservepb.GRPCInferenceServiceClient
	next    atomic.Uint64
	md      metadata.MD
	name    string
	version string
	where   string // grpc(s)://HOST:PORT/NAME, for messages
	secrets []string
}

const kserveGRPCExample = "grpc://HOST:PORT/NAME[/versions/VERSION] (grpcs:// for TLS)"

// maxGRPCMessage lifts gRPC's 4 MiB default: a batch of images is bigger.
const maxGRPCMessage = 1 << 30

// A gRPC connection is one HTTP/2 transport: every call on it shares one
// TCP stream, one read loop and one write lock, and servers cap the
// streams a connection may have open (often 100). So calls in flight are
// spread over a few connections, one per grpcCallsPerConn of them, at
// most maxGRPCConns.
const (
	grpcCallsPerConn = 16
	maxGRPCConns     = 16
)

// grpcConns is the size of the pool for concurrency calls in flight; 0 is
// an open loop without a cap, which may have openLoopCallers in flight.
func grpcConns(concurrency int) int {
	if concurrency <= 0 {
		concurrency = openLoopCallers
	}
	return min(maxGRPCConns, (concurrency+grpcCallsPerConn-1)/grpcCallsPerConn)
}

// NewKServeGRPC binds to a model served over the KServe v2 gRPC protocol at
// cfg.URL: grpc://HOST:PORT/NAME[/versions/V] in plain text, grpcs:// over
// TLS. It waits for ServerReady and ModelReady (within cfg.ReadyTimeout),
// then reads the inputs from ModelMetadata. Calls are ModelInfer with
// each input's bytes in raw_input_contents; headers go as metadata.
func NewKServeGRPC(ctx context.Context, cfg RemoteConfig) (Target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "grpc" && u.Scheme != "grpcs") || u.Host == "" {
		return nil, errkind.Input(fmt.Errorf("endpoint URL %s: want %s", RedactURL(cfg.URL), kserveGRPCExample))
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	c := &kserveGRPC{name: parts[0], secrets: cfg.Secrets()}
	if len(parts) >= 3 && parts[1] == "versions" {
		c.version = parts[2]
	}
	if c.name == "" || (len(parts) != 1 && len(parts) != 3) {
		return nil, errkind.Input(fmt.Errorf("endpoint URL %s: want %s", RedactURL(cfg.URL), kserveGRPCExample))
	}
	c.where = RedactURL(cfg.URL)

	creds := insecure.NewCredentials()
	if u.Scheme == "grpcs" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	for range grpcConns(cfg.Concurrency) {
		conn, err := grpc.NewClient(u.Host,
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage), grpc.MaxCallSendMsgSize(maxGRPCMessage)))
		if err != nil {
			c.close()
			return nil, errkind.Input(fmt.Errorf("endpoint %s: %s", c.where, redactWith(c.secrets, err.Error())))
		}
		// Connect now, while readiness is awaited, so that no measured
		// call pays for a handshake.
		conn.Connect()
		c.conns = append(c.conns, conn)
		c.clients = append(c.clients, kservepb.NewGRPCInferenceServiceClient(conn))
	}
	c.client = c.clients[0]
	if len(cfg.Headers) > 0 {
		c.md = metadata.MD{}
		for _, h := range cfg.Headers {
			c.md.Append(strings.ToLower(h.Name), h.Value)
		}
	}

	timeout := cfg.timeout()
	err = waitReady(ctx, c.where, cfg.readyTimeout(), func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(c.outgoing(ctx), timeout)
		defer cancel()
		sr, err := c.client.ServerReady(cctx, &kservepb.ServerReadyRequest{})
		if err != nil {
			return c.rpcError("ServerReady", err)
		}
		if !sr.GetReady() {
			return fmt.Errorf("server reports not ready")
		}
		mr, err := c.client.ModelReady(cctx, &kservepb.ModelReadyRequest{Name: c.name, Version: c.version})
		if err != nil {
			return c.rpcError("ModelReady", err)
		}
		if !mr.GetReady() {
			return fmt.Errorf("model %s reports not ready", c.name)
		}
		return nil
	})
	if err != nil {
		c.close()
		return nil, err
	}
	cctx, cancel := context.WithTimeout(c.outgoing(ctx), timeout)
	md, err := c.client.ModelMetadata(cctx, &kservepb.ModelMetadataRequest{Name: c.name, Version: c.version})
	cancel()
	if err != nil {
		c.close()
		return nil, errkind.Run(fmt.Errorf("model metadata: %w", c.rpcError("ModelMetadata", err)))
	}
	t := newRemoteTarget(cfg, "kserve-grpc", c)
	t.info.ModelVersion = servedVersion(c.version, md.GetVersions())
	for _, in := range md.GetInputs() {
		spec, err := v2InputSpec(in.GetName(), in.GetDatatype(), in.GetShape())
		if err != nil {
			c.close()
			return nil, errkind.Input(fmt.Errorf("model at %s: %v", c.where, err))
		}
		t.info.Inputs = append(t.info.Inputs, spec)
	}
	if len(t.info.Inputs) == 0 {
		c.close()
		return nil, errkind.Run(fmt.Errorf("model metadata from %s lists no inputs", c.where))
	}
	for _, out := range md.GetOutputs() {
		t.info.Outputs = append(t.info.Outputs, out.GetName())
	}
	return t, nil
}

func (c *kserveGRPC) outgoing(ctx context.Context) context.Context {
	if c.md == nil {
		return ctx
	}
	return metadata.NewOutgoingContext(ctx, c.md)
}

// rpcError keeps the status code and message, scrubbed of secrets, with
// the kind that classifyGRPC gives it.
func (c *kserveGRPC) rpcError(rpc string, err error) error {
	kind := classifyGRPC(err)
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Code().String() + ": " + st.Message()
		if kind == ErrKindTimeout {
			msg = "no answer within the request timeout"
		}
	}
	return &callError{kind: kind, msg: redactWith(c.secrets, fmt.Sprintf("%s %s: %s", rpc, c.where, msg)), refused: refusedCredentials(err)}
}

func (c *kserveGRPC) close() {
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

func (c *kserveGRPC) prepare(b BlockBatch) (any, error) {
	req := &kservepb.ModelInferRequest{ModelName: c.name, ModelVersion: c.version}
	for _, t := range b.Tensors {
		if err := checkTensor(t); err != nil {
			return nil, err
		}
		dt, ok := v2Datatypes[t.DType]
		if !ok {
			return nil, fmt.Errorf("input %s: element type %s has no v2 datatype", t.Name, t.DType)
		}
		raw, err := leBytes(t)
		if err != nil {
			return nil, err
		}
		req.Inputs = append(req.Inputs, &kservepb.ModelInferRequest_InferInputTensor{
			Name: t.Name, Datatype: dt, Shape: t.Shape,
		})
		req.RawInputContents = append(req.RawInputContents, raw)
	}
	// Marshalling reads the message only, so every caller shares it.
	return req, nil
}

func (c *kserveGRPC) call(ctx context.Context, req any, buf *callBuf) error {
	client := c.clients[(c.next.Add(1)-1)%uint64(len(c.clients))]
	resp, err := client.ModelInfer(c.outgoing(ctx), req.(*kservepb.ModelInferRequest))
	if err != nil {
		return c.rpcError("ModelInfer", err)
	}
	buf.resp = resp
	return nil
}

// check: outputs listed, and raw contents, when used, sized by shape and
// datatype.
func (c *kserveGRPC) check(_ any, buf *callBuf) error {
	resp := buf.resp.(*kservepb.ModelInferResponse)
	buf.resp = nil
	outs := resp.GetOutputs()
	if len(outs) == 0 {
		return protocolError("ModelInfer response has no outputs")
	}
	raw := resp.GetRawOutputContents()
	if len(raw) == 0 {
		return nil
	}
	if len(raw) != len(outs) {
		return protocolError("ModelInfer response has %d outputs but %d raw contents", len(outs), len(raw))
	}
	for i, o := range outs {
		n, err := shapeElements(o.GetShape())
		if err != nil {
			return protocolError("output %s: %v", o.GetName(), err)
		}
		// Compared by division: n*size can overflow for a shape that no
		// answer could fill.
		size, got := int64(v2Size(o.GetDatatype())), int64(len(raw[i]))
		if size > 0 && (got%size != 0 || got/size != n) {
			return protocolError("output %s: shape %v of %s holds %d elements, got %d bytes", o.GetName(), o.GetShape(), o.GetDatatype(), n, got)
		}
	}
	return nil
}

// v2Size is the element size of a v2 datatype, 0 when variable (BYTES) or
// unknown.
func v2Size(dt string) int {
	switch dt {
	case "BOOL", "INT8", "UINT8":
		return 1
	case "INT16", "UINT16", "FP16", "BF16":
		return 2
	case "INT32", "UINT32", "FP32":
		return 4
	case "INT64", "UINT64", "FP64":
		return 8
	}
	return 0
}
