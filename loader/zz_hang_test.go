package loader

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"path/filepath"
	"testing"
	"time"
)

func TestZZHang(t *testing.T) {
	if os.Getenv("ZZHANG") == "" {
		t.Skip()
	}
	dir := filepath.Join("..", "..", "shared", "parquet-testing")
	var seeds [][]byte
	for _, sub := range []string{"bad_data", "data"} {
		for _, p := range corpusFiles(t, filepath.Join(dir, sub)) {
			if st, _ := os.Stat(p); st.Size() <= 64<<10 {
				b, _ := os.ReadFile(p)
				seeds = append(seeds, b)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	deadline := time.Now().Add(100 * time.Second)
	found := 0
	for i := 0; time.Now().Before(deadline) && found < 1; i++ {
		data := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for m := 0; m < 1+rng.IntN(4); m++ {
			switch rng.IntN(3) {
			case 0:
				data[rng.IntN(len(data))] = byte(rng.IntN(256))
			case 1:
				at := rng.IntN(len(data) - 3)
				binaryPut(data[at:], rng.Uint32())
			case 2:
				at := rng.IntN(len(data))
				data[at] ^= 1 << rng.IntN(8)
			}
		}
		p := filepath.Join(t.TempDir(), "f.parquet")
		os.WriteFile(p, data, 0o644)
		done := make(chan struct{})
		go func() { exercise(p); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			out := fmt.Sprintf("/tmp/hang-%d.parquet", found)
			os.WriteFile(out, data, 0o644)
			t.Logf("hang after %d inputs -> %s", i, out)
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
			found++
			<-done // wait (may be long)
		}
	}
}

func binaryPut(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
