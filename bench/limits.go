package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/infergate/infergate/internal/errkind"
)

// sizeUnits are the suffixes ParseSize accepts, binary and decimal.
var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize reads a memory size flag such as --max-memory: "2GiB",
// "512MiB", "1.5G" (k, m, g and t are binary, as in docker and ulimit),
// "4e9", or bytes. It must be positive.
func ParseSize(flag, s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*mult >= math.MaxInt64 || v*mult < 1 {
		return 0, errkind.Input(fmt.Errorf("--%s %q: want a positive size such as 2GiB, 512MiB or 1.5G", flag, s))
	}
	return int64(v * mult), nil
}
