package bench

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"2GiB": 2 << 30, "512MiB": 512 << 20, "1.5G": 3 << 29, "512m": 512 << 20, "1GB": 1e9,
		"4096": 4096, "4e9": 4e9, " 64 KiB ": 64 << 10, "100b": 100,
	} {
		got, err := ParseSize("max-memory", in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1G", "abc", "1.5X", "NaN", "Inf", "1e30", "0.1", "GiB"} {
		if _, err := ParseSize("max-memory", in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2GiB", "512m", "1e9", "-1", "0.5k", "9e18", "1 tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize("max-memory", s)
		if err != nil {
			if v != 0 {
				t.Errorf("error with value %d", v)
			}
			return
		}
		if v <= 0 {
			t.Errorf("ParseSize(%q) = %d, want positive", s, v)
		}
	})
}
