package kservetest

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/infergate/infergate/internal/kservepb"
)

// grpcService serves the KServe v2 gRPC protocol.
type grpcService struct {
	kservepb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func (g *grpcService) auth(ctx context.Context) error {
	name, want := g.s.opts.RequireHeader[0], g.s.opts.RequireHeader[1]
	if name == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var got string
	if v := md.Get(name); len(v) > 0 {
		got = v[0]
	}
	if got != want {
		// Echoes the value, as the REST side does, to test scrubbing.
		return status.Errorf(codes.Unauthenticated, "unauthorized: %s %q is wrong", name, got)
	}
	return nil
}

func (g *grpcService) model(ctx context.Context, name string) error {
	if err := g.auth(ctx); err != nil {
		return err
	}
	if name != g.s.name {
		return status.Errorf(codes.NotFound, "no model %q", name)
	}
	return nil
}

func (g *grpcService) ServerLive(ctx context.Context, _ *kservepb.ServerLiveRequest) (*kservepb.ServerLiveResponse, error) {
	return &kservepb.ServerLiveResponse{Live: true}, g.auth(ctx)
}

func (g *grpcService) ServerReady(ctx context.Context, _ *kservepb.ServerReadyRequest) (*kservepb.ServerReadyResponse, error) {
	if err := g.auth(ctx); err != nil {
		return nil, err
	}
	return &kservepb.ServerReadyResponse{Ready: g.s.ready()}, nil
}

func (g *grpcService) ModelReady(ctx context.Context, req *kservepb.ModelReadyRequest) (*kservepb.ModelReadyResponse, error) {
	if err := g.model(ctx, req.GetName()); err != nil {
		return nil, err
	}
	return &kservepb.ModelReadyResponse{Ready: g.s.ready()}, nil
}

func (g *grpcService) ServerMetadata(ctx context.Context, _ *kservepb.ServerMetadataRequest) (*kservepb.ServerMetadataResponse, error) {
	return &kservepb.ServerMetadataResponse{Name: "kservetest", Version: "1"}, g.auth(ctx)
}

func pbMeta(ms []TensorMeta) []*kservepb.ModelMetadataResponse_TensorMetadata {
	out := make([]*kservepb.ModelMetadataResponse_TensorMetadata, len(ms))
	for i, m := range ms {
		out[i] = &kservepb.ModelMetadataResponse_TensorMetadata{Name: m.Name, Datatype: m.Datatype, Shape: m.Shape}
	}
	return out
}

func (g *grpcService) ModelMetadata(ctx context.Context, req *kservepb.ModelMetadataRequest) (*kservepb.ModelMetadataResponse, error) {
	if err := g.model(ctx, req.GetName()); err != nil {
		return nil, err
	}
	return &kservepb.ModelMetadataResponse{
		Name: g.s.name, Versions: []string{"1"}, Platform: "kservetest",
		Inputs: pbMeta(g.s.model.Inputs()), Outputs: pbMeta(g.s.model.Outputs()),
	}, nil
}

func (g *grpcService) ModelInfer(ctx context.Context, req *kservepb.ModelInferRequest) (*kservepb.ModelInferResponse, error) {
	if err := g.model(ctx, req.GetModelName()); err != nil {
		return nil, err
	}
	out, err := g.s.admit(ctx)
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	switch out {
	case drop:
		if p, ok := peer.FromContext(ctx); ok {
			_ = g.s.grpcLn.drop(p.Addr.String())
		}
		return nil, status.Error(codes.Unavailable, "connection dropped")
	case fail:
		return nil, status.Error(codes.Internal, "injected failure")
	case bad:
		return &kservepb.ModelInferResponse{ModelName: g.s.name}, nil // no outputs
	}

	raw := req.GetRawInputContents()
	if len(raw) > 0 && len(raw) != len(req.GetInputs()) {
		return nil, status.Errorf(codes.InvalidArgument, "%d inputs but %d raw contents", len(req.GetInputs()), len(raw))
	}
	ins := make([]Tensor, len(req.GetInputs()))
	for i, in := range req.GetInputs() {
		t := Tensor{Name: in.GetName(), Datatype: in.GetDatatype(), Shape: in.GetShape()}
		if len(raw) > 0 {
			vals, err := decodeRaw(in.GetDatatype(), raw[i])
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "input %s: %v", in.GetName(), err)
			}
			t.Data = vals
		} else {
			t.Data = typedContents(in.GetContents())
		}
		ins[i] = t
	}
	outs, err := g.s.infer(ins)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := &kservepb.ModelInferResponse{ModelName: g.s.name, ModelVersion: "1", Id: req.GetId()}
	for _, o := range outs {
		resp.Outputs = append(resp.Outputs, &kservepb.ModelInferResponse_InferOutputTensor{
			Name: o.Name, Datatype: o.Datatype, Shape: o.Shape,
		})
		resp.RawOutputContents = append(resp.RawOutputContents, encodeRaw(o.Datatype, o.Data))
	}
	return resp, nil
}

// typedContents reads whichever typed field of the contents is set.
func typedContents(c *kservepb.InferTensorContents) []float64 {
	var out []float64
	for _, v := range c.GetFp32Contents() {
		out = append(out, float64(v))
	}
	out = append(out, c.GetFp64Contents()...)
	for _, v := range c.GetIntContents() {
		out = append(out, float64(v))
	}
	for _, v := range c.GetInt64Contents() {
		out = append(out, float64(v))
	}
	for _, v := range c.GetUintContents() {
		out = append(out, float64(v))
	}
	for _, v := range c.GetBoolContents() {
		if v {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
	}
	return out
}
