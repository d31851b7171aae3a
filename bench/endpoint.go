package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
)

// Protocols of remote endpoints, the values of --protocol.
const (
	ProtocolKServeREST = "kserve-rest"
	ProtocolKServeGRPC = "kserve-grpc"
	ProtocolTFServing  = "tfserving"
	ProtocolHTTP       = "http"
)

// Protocols lists the protocol names in the order help shows them.
var Protocols = []string{ProtocolKServeREST, ProtocolKServeGRPC, ProtocolTFServing, ProtocolHTTP}

// GuessProtocol picks a protocol from an endpoint URL when none is given:
// grpc(s):// is KServe gRPC, a path with /v2/models/ KServe REST, one with
// /v1/models/ TF Serving, anything else a plain HTTP JSON API.
func GuessProtocol(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ProtocolHTTP
	}
	switch {
	case u.Scheme == "grpc" || u.Scheme == "grpcs":
		return ProtocolKServeGRPC
	case strings.Contains(u.Path, "/v2/models/"):
		return ProtocolKServeREST
	case strings.Contains(u.Path, "/v1/models/"):
		return ProtocolTFServing
	}
	return ProtocolHTTP
}

// EndpointConfig is everything a remote target of any protocol takes, for
// a command layer that chooses the protocol from a flag.
type EndpointConfig struct {
	RemoteConfig
	// Protocol is one of Protocols; "" guesses from the URL.
	Protocol string
	// TF Serving only.
	TFFormat    TFFormat
	TFSignature string
	// HTTP JSON only (see HTTPJSONConfig).
	Method          string
	RequestTemplate string
	ContentType     string
	ResponsePath    string
	Inputs          []loader.InputSpec
}

// StartEndpoint makes the target for cfg.Protocol.
func StartEndpoint(ctx context.Context, cfg EndpointConfig) (Target, error) {
	p := cfg.Protocol
	if p == "" {
		p = GuessProtocol(cfg.URL)
	}
	switch p {
	case ProtocolKServeREST:
		return NewKServeREST(ctx, cfg.RemoteConfig)
	case ProtocolKServeGRPC:
		return NewKServeGRPC(ctx, cfg.RemoteConfig)
	case ProtocolTFServing:
		return NewTFServing(ctx, TFServingConfig{RemoteConfig: cfg.RemoteConfig, Format: cfg.TFFormat, Signature: cfg.TFSignature})
	case ProtocolHTTP:
		return NewHTTPJSON(ctx, HTTPJSONConfig{
			RemoteConfig: cfg.RemoteConfig, Method: cfg.Method, RequestTemplate: cfg.RequestTemplate,
			ContentType: cfg.ContentType, ResponsePath: cfg.ResponsePath, Inputs: cfg.Inputs,
		})
	}
	return nil, errkind.Input(fmt.Errorf("--protocol %q: want one of %s", p, strings.Join(Protocols, ", ")))
}
