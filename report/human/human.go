// Package human formats measurements for people: durations and sizes at
// three significant figures, ratios with a "×", fractions as percentages.
//
// It is shared by compare (whose check messages quote numbers) and report
// (whose tables show them), so a number reads the same in a check's message
// and in the table beside it. It depends on nothing but the standard library.
package human

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration formats d at three significant figures in the largest unit that
// keeps the number at or above 1: "850ns", "21.3µs", "1.20ms", "2.50s".
// Trailing zeros are kept so that a column of durations lines up by digit.
//
// Use time.Duration's own String for values a user typed (budgets), which
// it prints as given ("50ms"), not re-rounded.
func Duration(d time.Duration) string {
	if d < 0 {
		return "-" + Duration(-d)
	}
	ns := round3(float64(d))
	switch {
	case ns < 1e3:
		return strconv.FormatFloat(ns, 'f', 0, 64) + "ns"
	case ns < 1e6:
		return sig3(ns/1e3) + "µs"
	case ns < 1e9:
		return sig3(ns/1e6) + "ms"
	default:
		return sig3(ns/1e9) + "s"
	}
}

// Bytes formats n in binary units at three significant figures: "512 B",
// "38.2 MiB", "1.50 GiB". Memory deltas can be negative.
func Bytes(n int64) string {
	if n < 0 {
		return "-" + Bytes(-n)
	}
	if n < 1000 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	for i, u := range units {
		v /= 1024
		// Move up a unit before the number would print as 1000 or more, so
		// 1023.9 KiB reads "1.00 MiB", not "1020 KiB".
		if round3(v) < 1000 || i == len(units)-1 {
			return sig3(round3(v)) + " " + u
		}
	}
	panic("unreachable")
}

// Ratio formats a ratio with two decimals: "1.27×".
func Ratio(v float64) string { return RatioPrec(v, 2) }

// RatioPrec formats a ratio with the given number of decimals.
func RatioPrec(v float64, decimals int) string {
	return strconv.FormatFloat(v, 'f', decimals, 64) + "×"
}

// RatioVs formats a measured ratio and the threshold it is judged against.
// Normally both get two decimals; when that would print them equal although
// they differ (1.1512 against 1.15), more decimals are used, up to four, so
// a failed check never reads "1.15× (threshold 1.15×)".
func RatioVs(v, threshold float64) (string, string) {
	for d := 2; d <= 4; d++ {
		a, b := RatioPrec(v, d), RatioPrec(threshold, d)
		if a != b || d == 4 || v == threshold {
			return a, b
		}
	}
	panic("unreachable")
}

// Percent formats a fraction in [0, 1] as a percentage with two decimals:
// "0.50%". A rate that is not zero never prints as zero: "<0.01%".
func Percent(f float64) string {
	if f > 0 && f < 0.00005 {
		return "<0.01%"
	}
	return strconv.FormatFloat(f*100, 'f', 2, 64) + "%"
}

// Count formats an integer with thousands separators: "12,345".
func Count(n int64) string {
	if n < 0 {
		return "-" + Count(-n)
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Rate formats a per-second rate: whole numbers with separators from 100
// up ("12,345"), three significant figures below ("45.6", "0.456").
func Rate(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case v < 0:
		return "-" + Rate(-v)
	case v == 0:
		return "0"
	case round3(v) >= 100:
		return Count(int64(math.Round(v)))
	default:
		return sig3(round3(v))
	}
}

// round3 rounds v to three significant figures.
func round3(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	scale := math.Pow(10, math.Floor(math.Log10(math.Abs(v)))-2)
	return math.Round(v/scale) * scale
}

// sig3 prints a number already rounded to three significant figures with
// exactly as many decimals as those figures need (1.20, 21.3, 512). Below
// 0.1 it falls back to three decimals: such values only occur for rates.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
