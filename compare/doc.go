// Package compare turns thresholds into checks and judges a result against
// them: the statistics behind infergate's verdict.
//
// The flow is k6-like: the command layer parses each flag value once with
// the Parse helpers, collects them in Thresholds, and calls NewSpecs before
// anything is measured, so a bad or contradictory threshold fails the run in
// milliseconds, not after ten minutes of benchmarking. After the run, Judge
// (or JudgeWith) computes every Spec from the result document alone; it
// never sees a model, which is what lets `infergate compare` re-judge an
// old result.
//
// The package is opinionated the way benchstat is: a ratio whose baseline
// is zero, a latency with no samples, memory that was not measured, all give
// an inconclusive check with a message, never a NaN, an Inf or a silent pass.
//
// # Intervals and outcomes
//
// Shared CI machines drift by tens of percent within a run, so a single
// ratio of two p95s flaps. Every check therefore gets an interval [Lower,
// Upper] on the judged quantity, and a three-way outcome. For an "at most"
// check with threshold t:
//
//   - fail when Lower > t: the data rule out "within the threshold";
//   - pass when Upper <= t;
//   - inconclusive when the interval straddles t.
//
// "At least" checks (--min-throughput-ratio) mirror this: pass when
// Lower >= t, fail when Upper < t. The outcome is always read off the
// bounds written into the check, so a check never says "fail" beside a
// lower bound below its threshold. Each bound is one-sided at the check's
// Confidence: at 95% with one check, a model truly within the threshold
// fails with probability at most 5%, and one truly beyond it passes with
// probability at most 5%.
//
// The intervals, by check:
//
//   - Latency ratios (--max-latency-increase, --max-p99-increase): a paired
//     block bootstrap over rounds. Round i of production and round i of the
//     candidate ran back to back, so they are resampled together: each
//     resample draws round indices with replacement (indices both targets
//     have, with latency samples on both), merges each target's drawn
//     rounds, takes the quantile of each and divides. Drift that hits both
//     models in a round cancels in the ratio instead of widening it, and
//     within-round correlation is kept because whole rounds are the
//     resampled blocks. The bounds are quantiles of the resampled ratios;
//     Ratio is the point estimate on all paired rounds.
//   - Latency budgets (--max-p50/95/99): the same bootstrap of the
//     candidate's (or bench's single model's) quantile alone.
//   - Throughput (--min-throughput-ratio): the paired bootstrap of
//     (requests/busy time) of the candidate over production's, each summed
//     over the drawn rounds.
//   - Error rate (--max-error-rate): a Wilson score interval on the
//     candidate's failed fraction errors/(successes+errors). With
//     threshold 0 any error fails and none passes; no interval.
//   - Memory (--max-memory-increase): peak RSS is nearly deterministic and
//     measured once per target, so the ratio is compared directly with a
//     tolerance band [ratio/(1+tol), ratio·(1+tol)], tol 5% by default. It
//     is not a statistical interval (Confidence 0) and takes no part in the
//     multiplicity adjustment.
//
// Unpaired results (JudgeUnpaired, Options.Unpaired): when production
// and the candidate come from two different runs, as in `infergate
// compare` of two saved results, round i of one has nothing to do with
// round i of the other. The latency and throughput ratios then use a
// two-sample block bootstrap: each resample draws production's rounds
// with replacement and, independently, the candidate's, and divides the
// statistics of the two merges. Drift between the runs is not cancelled,
// so intervals are wider than a paired run's; each such check's Method
// ends with UnpairedNote and the judgement warns with it. Rounds is then
// the smaller side's count. Budgets, memory and the error rate are judged
// as usual.
//
// Resampling is seeded (Options.Seed) and reproducible. Quantiles follow
// HDR's rank rule exactly, so the point estimate equals the quantile of
// the merged histograms; to make 2000 resamples cheap, each round is
// decoded once and projected onto the union of the rounds' non-empty
// buckets (see result.Histogram.Buckets), and a resample's quantile is a
// binary search over weighted sums of the rounds' running counts.
//
// A check with fewer than 2 rounds to resample is inconclusive ("needs at
// least 2 rounds"), its bounds equal to the point estimate; memory and
// error-rate checks, which do not resample rounds, are judged regardless.
//
// # Multiplicity
//
// With several statistical checks (all but memory and the deterministic
// error-rate thresholds 0 and 1), the family-wise error is controlled with
// Holm's step-down procedure, separately for the fail decisions and for the
// pass decisions, each at alpha = 1-Confidence (divided by Options.Looks
// for sequential looks: Bonferroni over looks). A check's one-sided p-value
// for "fail" is the fraction of bootstrap replicates on the pass side of
// the threshold (for the Wilson interval, the score test's p-value, which
// the interval inverts), and for "pass" the fraction on the fail side.
//
// The bounds written into a check are drawn at the level Holm used for it:
// a check Holm rejects at step j (of m) gets one-sided level alpha/(m-j),
// so its interval shows the decision; every other check gets alpha/m
// (Bonferroni), the widest, so its interval cannot show a decision Holm did
// not make. The bound index is chosen so that "Lower > t" holds exactly
// when the fail p-value is at most the level, making bounds and p-values
// agree; the outcome is then taken from the bounds. Confidence records the
// level and Method says it, e.g. "paired block bootstrap over 20 rounds,
// 2000 resamples, 98.33% one-sided (95% family-wise: Holm over 3 checks)".
//
// # Resolution
//
// Resolution(c) is a ratio check's relative half-width,
// (Upper-Lower)/2/Ratio, read from the check itself; DetectableChange is 1
// plus that of the main latency check: the smallest latency change the run
// could tell from none. A ratio threshold t with |t-1| below it cannot
// pass even an identical model, and gets a warning.
package compare
