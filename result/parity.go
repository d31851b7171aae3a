package result

// Parity compares the two models' outputs on the same rows, sampled from
// the test set (Sample says which) and run outside the timed region after
// the measured pass. It is exact on those rows, not a statistical
// estimate: every element of every sampled row is compared.
type Parity struct {
	// Rows is the number of rows sampled (both models saw the same ones).
	Rows int `json:"rows"`
	// Sample is the rule that picked the rows; nil in results written
	// before there was one, which compared the first Rows rows.
	Sample *ParitySample `json:"sample,omitempty"`
	// ATol and RTol are the tolerances: an element is within tolerance when
	// |candidate - production| <= ATol + RTol*|production| (numpy.allclose).
	ATol float64 `json:"atol"`
	RTol float64 `json:"rtol"`
	// MinTop1Agreement is the top-1 agreement asked for; nil when not
	// checked.
	MinTop1Agreement *float64 `json:"min_top1_agreement,omitempty"`
	// Outputs are the compared outputs, in production's order.
	Outputs []OutputParity `json:"outputs"`
}

// SampleSpread is the rule of a parity sample spread evenly over the run's
// rows.
const SampleSpread = "spread"

// ParitySample says which rows a parity comparison read, so that anyone can
// pick them again (the rows themselves, and their values, are not kept).
// Rule SampleSpread: positions ⌊i·Of/Rows⌋, i = 0 … Rows−1, of the Of rows
// the run reads, in the run's order (the order --shuffle SEED gives, when
// ShuffleSeed is set). Of equal to Rows means every row.
type ParitySample struct {
	Rule        string `json:"rule"`
	Of          int64  `json:"of"`
	ShuffleSeed *int64 `json:"shuffle_seed,omitempty"`
}

// OutputParity is one output's comparison.
type OutputParity struct {
	// Name is production's output name; Candidate is the candidate's when
	// --output-map paired differently named outputs.
	Name      string  `json:"name"`
	Candidate string  `json:"candidate,omitempty"`
	Shape     []int64 `json:"shape,omitempty"` // of the first batch
	Elements  int64   `json:"elements"`
	// MaxAbs is the largest |candidate - production|; MaxRel the largest
	// |candidate - production| / |production| over elements whose
	// production value is not 0 (MaxAbs covers the others).
	MaxAbs float64 `json:"max_abs"`
	MaxRel float64 `json:"max_rel"`
	// WithinTol is the fraction of elements within tolerance (1 passes).
	WithinTol float64 `json:"within_tol"`
	// Top1 is the fraction of rows whose argmax over the last dimension
	// agrees, for outputs whose last dimension is above 1 (classifiers);
	// Classifier is false, and Top1 0, otherwise.
	Classifier bool    `json:"classifier,omitempty"`
	Top1       float64 `json:"top1,omitempty"`
	Rows       int     `json:"rows"`
}
