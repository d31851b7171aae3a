package human

import (
	"math"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                          "0ns",
		850:                        "850ns",
		999:                        "999ns",
		1000:                       "1.00µs",
		21300:                      "21.3µs",
		21349:                      "21.3µs",
		999_600:                    "1.00ms", // rounds up into the next unit
		1_200_000:                  "1.20ms",
		123_456_789:                "123ms",
		2_500_000_000:              "2.50s",
		60 * time.Second:           "60.0s",
		-1_500_000:                 "-1.50ms",
		time.Duration(math.MaxInt): "9220000000s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:                       "0 B",
		512:                     "512 B",
		1000:                    "0.977 KiB",
		1536:                    "1.50 KiB",
		38_2 * 1024 * 1024 / 10: "38.2 MiB",
		1024*1024 - 1:           "1.00 MiB",
		3 << 30:                 "3.00 GiB",
		-5 << 20:                "-5.00 MiB",
		math.MaxInt64:           "8.00 EiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRatioPercentCountRate(t *testing.T) {
	if got := Ratio(1.2712); got != "1.27×" {
		t.Errorf("Ratio = %q", got)
	}
	for _, tc := range []struct {
		v, thr   float64
		got, thg string
	}{
		{1.27, 1.15, "1.27×", "1.15×"},
		{1.1512, 1.15, "1.151×", "1.150×"},
		{1.15, 1.15, "1.15×", "1.15×"},
		{1.150001, 1.15, "1.1500×", "1.1500×"}, // gives up at 4 decimals
	} {
		a, b := RatioVs(tc.v, tc.thr)
		if a != tc.got || b != tc.thg {
			t.Errorf("RatioVs(%v, %v) = %q, %q; want %q, %q", tc.v, tc.thr, a, b, tc.got, tc.thg)
		}
	}
	for f, want := range map[float64]string{0: "0.00%", 0.005: "0.50%", 1: "100.00%", 0.00001: "<0.01%", 0.0909: "9.09%"} {
		if got := Percent(f); got != want {
			t.Errorf("Percent(%v) = %q, want %q", f, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 0.4567: "0.457", 4.567: "4.57", 45.67: "45.7", 99.96: "100", 12345.6: "12,346", math.NaN(): "–"} {
		if got := Rate(v); got != want {
			t.Errorf("Rate(%v) = %q, want %q", v, got, want)
		}
	}
}
