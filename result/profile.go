package result

// ProfileDiff is where the time went: ONNX Runtime's per-node kernel times
// for both models, from a separate profiled pass after the measured one
// (`run --profile`). Times are microseconds per call (per inference
// request), averaged over the profiled requests; they are the profiler's
// numbers, not the measured pass's, and serve to explain a change, not to
// judge it.
type ProfileDiff struct {
	// Requests is the number of calls each model ran with profiling on,
	// of BatchSize rows each (--batch-size; a --batch-sizes sweep is
	// profiled once, at --batch-size, not per stage).
	Requests  int `json:"requests"`
	BatchSize int `json:"batch_size,omitempty"`
	// Nodes are the graph nodes of either model by the absolute change of
	// their time per call, largest first. A node in one model only has 0
	// for the other.
	Nodes []NodeDiff `json:"nodes"`
	// Added are the candidate's nodes that production lacks; Removed the
	// other way round. Names are of the graphs as ONNX Runtime ran them
	// (after its graph optimisations).
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// ByOpType totals the nodes by op type, by absolute change, largest first.
	ByOpType []OpTypeDiff `json:"by_op_type"`
	// ProductionTotalUS and CandidateTotalUS are the kernel times of all
	// nodes per call.
	ProductionTotalUS float64 `json:"production_total_us"`
	CandidateTotalUS  float64 `json:"candidate_total_us"`
}

// NodeDiff is one node's kernel time per call on each side.
type NodeDiff struct {
	Name         string  `json:"name"`
	OpType       string  `json:"op_type"`
	ProductionUS float64 `json:"production_us"`
	CandidateUS  float64 `json:"candidate_us"`
	// Delta is CandidateUS - ProductionUS.
	Delta float64 `json:"delta_us"`
	// Ratio is CandidateUS / ProductionUS; 0 when production has no time.
	Ratio float64 `json:"ratio,omitempty"`
}

// OpTypeDiff is the nodes of one op type, totalled per call on each side.
type OpTypeDiff struct {
	OpType          string  `json:"op_type"`
	ProductionUS    float64 `json:"production_us"`
	CandidateUS     float64 `json:"candidate_us"`
	Delta           float64 `json:"delta_us"`
	Ratio           float64 `json:"ratio,omitempty"`
	ProductionNodes int     `json:"production_nodes"`
	CandidateNodes  int     `json:"candidate_nodes"`
}
