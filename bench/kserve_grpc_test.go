package bench

import (
	"context"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/kservetest"
)

func TestGRPCConnsSizedToConcurrency(t *testing.T) {
	for _, tc := range []struct{ concurrency, want int }{
		{1, 1}, {16, 1}, {17, 2}, {32, 2}, {64, 4}, {256, 16}, {10000, 16},
		{0, 16}, // an open loop without a cap: up to openLoopCallers in flight
	} {
		if got := grpcConns(tc.concurrency); got != tc.want {
			t.Errorf("grpcConns(%d) = %d, want %d", tc.concurrency, got, tc.want)
		}
	}
}

// TestGRPCPoolSpreadsCalls: at concurrency 64 the calls go over four
// connections, as the server sees them, and all of them succeed.
func TestGRPCPoolSpreadsCalls(t *testing.T) {
	for _, tc := range []struct{ concurrency, conns int }{{1, 1}, {64, 4}} {
		s := startServer(t, kservetest.Options{Faults: kservetest.Faults{Latency: time.Millisecond}})
		tgt, err := NewKServeGRPC(context.Background(), RemoteConfig{URL: s.GRPCURL(), Concurrency: tc.concurrency})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tgt.Close() })
		const calls = 320
		res, err := tgt.Run(context.Background(), Block{
			Batches: []BlockBatch{sumBatch(2)}, Requests: calls, Concurrency: tc.concurrency, Record: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != calls || res.Errors != 0 || res.Histogram.Count() != calls {
			t.Errorf("concurrency %d: %d requests, %d errors (%s), %d latencies; want %d, 0, %d",
				tc.concurrency, res.Requests, res.Errors, res.FirstError, res.Histogram.Count(), calls, calls)
		}
		if got := s.GRPCConnections(); got != tc.conns {
			t.Errorf("concurrency %d: the server saw %d connections, want %d", tc.concurrency, got, tc.conns)
		}
		if got := s.Requests(); got != calls {
			t.Errorf("concurrency %d: the server answered %d calls, want %d", tc.concurrency, got, calls)
		}
	}
}
