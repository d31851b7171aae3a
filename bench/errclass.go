package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of failed calls to an endpoint, the keys of BlockResult.ErrorsByKind.
// gRPC status codes other than the transport ones below count as
// "grpc_" + the code in snake case (grpc_internal, grpc_invalid_argument).
const (
	// ErrKindTimeout: no answer within the per-request timeout.
	ErrKindTimeout = "timeout"
	// ErrKindConnRefused: nothing listens at the address.
	ErrKindConnRefused = "connection_refused"
	// ErrKindConnReset: the connection broke mid-call (reset, or closed
	// before a whole response arrived).
	ErrKindConnReset = "connection_reset"
	// ErrKindConnection: any other transport failure (name resolution,
	// TLS handshake, unreachable network).
	ErrKindConnection = "connection"
	ErrKindHTTP4xx    = "http_4xx"
	ErrKindHTTP5xx    = "http_5xx"
	// ErrKindHTTPOther: a status that is neither 2xx nor 4xx/5xx.
	ErrKindHTTPOther = "http_other"
	// ErrKindProtocol: the server answered, but not with what the protocol
	// says: undecodable JSON or protobuf, missing outputs, a wrong shape.
	ErrKindProtocol = "protocol"
)

// callError is a failed call: its kind and a message that is safe to show
// (no header values, URLs without userinfo or query).
type callError struct {
	kind string
	msg  string
	// status is the HTTP status of a response that was an error, else 0.
	status int
	// refused marks a gRPC call the server refused for its credentials
	// (Unauthenticated, PermissionDenied).
	refused bool
	// detail is what the server said (the start of an error response's
	// body). It may echo the request, and so the test set: it goes to the
	// log, never into a result or a report (see reportable).
	detail string
}

func (e *callError) Error() string {
	if e.detail != "" {
		return e.msg + ": " + e.detail
	}
	return e.msg
}

// reportable is err's message for results and reports: without the
// server's own words, which may quote the test set's values.
func reportable(err error) string {
	var ce *callError
	if errors.As(err, &ce) && ce.detail != "" {
		return ce.msg + " (the server's message is in the log)"
	}
	return err.Error()
}

// protocolError is a response that the server sent but the protocol does
// not allow.
func protocolError(format string, args ...any) *callError {
	return &callError{kind: ErrKindProtocol, msg: fmt.Sprintf(format, args...)}
}

// httpStatusError is a response with a non-2xx status; snippet is the start
// of the body, which usually says why.
func httpStatusError(code int, snippet string) *callError {
	kind := ErrKindHTTPOther
	switch {
	case code >= 400 && code < 500:
		kind = ErrKindHTTP4xx
	case code >= 500 && code < 600:
		kind = ErrKindHTTP5xx
	}
	return &callError{kind: kind, msg: fmt.Sprintf("HTTP %d", code), status: code, detail: snippet}
}

// refusedCredentials reports whether err says the endpoint rejected who we
// are (HTTP 401/403, gRPC Unauthenticated/PermissionDenied): waiting for
// it to become ready cannot help.
func refusedCredentials(err error) bool {
	var ce *callError
	if errors.As(err, &ce) && (ce.status == 401 || ce.status == 403 || ce.refused) {
		return true
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unauthenticated || st.Code() == codes.PermissionDenied
	}
	return false
}

// classifyTransport names the kind of an error from the network stack or
// a client library (not a response the server sent).
func classifyTransport(err error) string {
	var ce *callError
	switch {
	case errors.As(err, &ce):
		return ce.kind
	case errors.Is(err, context.DeadlineExceeded):
		return ErrKindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrKindConnRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrKindConnReset
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrKindTimeout
	}
	// net/http reports a connection the server closed before answering
	// with a plain error whose text is its only trace.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server closed idle connection"),
		strings.Contains(msg, "connection reset"),
		strings.Contains(msg, "broken pipe"):
		return ErrKindConnReset
	case strings.Contains(msg, "connection refused"):
		return ErrKindConnRefused
	}
	return ErrKindConnection
}

// classifyGRPC names the kind of a failed gRPC call. Transport failures,
// which gRPC folds into Unavailable, get the same kinds as over HTTP, so
// that "the endpoint never answered" means the same for both.
func classifyGRPC(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrKindTimeout
	}
	st, ok := status.FromError(err)
	if !ok {
		return classifyTransport(err)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return ErrKindTimeout
	case codes.Unavailable:
		msg := st.Message()
		switch {
		case strings.Contains(msg, "connection refused"):
			return ErrKindConnRefused
		case strings.Contains(msg, "connection reset"), strings.Contains(msg, "EOF"),
			strings.Contains(msg, "broken pipe"), strings.Contains(msg, "error reading from server"),
			strings.Contains(msg, "transport is closing"):
			return ErrKindConnReset
		case strings.Contains(msg, "connection error"):
			return ErrKindConnection
		}
	case codes.Internal:
		// The client library reports a response it cannot decode as
		// Internal too; that one is the server's protocol error.
		if strings.Contains(st.Message(), "grpc: error unmarshalling") || strings.Contains(st.Message(), "failed to unmarshal") {
			return ErrKindProtocol
		}
	}
	return grpcKind(st.Code())
}

// grpcKind is "grpc_" + the code's name in snake case.
func grpcKind(c codes.Code) string {
	var b strings.Builder
	b.WriteString("grpc_")
	for i, r := range c.String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unanswered reports whether a kind means the endpoint gave no answer at
// all, as against an answer that was an error.
func unanswered(kind string) bool {
	switch kind {
	case ErrKindTimeout, ErrKindConnRefused, ErrKindConnReset, ErrKindConnection:
		return true
	}
	return false
}
