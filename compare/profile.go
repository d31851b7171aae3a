package compare

import (
	"math"
	"sort"

	"github.com/infergate/infergate/internal/ortprof"
	"github.com/infergate/infergate/result"
)

// ProfileDiff compares the per-node kernel times of production and the
// candidate, each profiled over its own number of calls, per call: the
// nodes by how much their time changed, the nodes one model has and the
// other lacks, and the same by op type.
func ProfileDiff(prod []ortprof.NodeStat, prodCalls int, cand []ortprof.NodeStat, candCalls int) *result.ProfileDiff {
	per := func(us float64, calls int) float64 {
		if calls <= 0 {
			return 0
		}
		return us / float64(calls)
	}
	d := &result.ProfileDiff{Requests: min(prodCalls, candCalls), Nodes: []result.NodeDiff{}, ByOpType: []result.OpTypeDiff{}}
	byName := map[string]*result.NodeDiff{}
	var order []string
	node := func(n ortprof.NodeStat) *result.NodeDiff {
		nd := byName[n.Name]
		if nd == nil {
			nd = &result.NodeDiff{Name: n.Name, OpType: n.OpType}
			byName[n.Name] = nd
			order = append(order, n.Name)
		}
		return nd
	}
	inProd := map[string]bool{}
	for _, n := range prod {
		node(n).ProductionUS += per(n.TypicalUS(), prodCalls)
		inProd[n.Name] = true
		d.ProductionTotalUS += per(n.TypicalUS(), prodCalls)
	}
	inCand := map[string]bool{}
	for _, n := range cand {
		nd := node(n)
		nd.CandidateUS += per(n.TypicalUS(), candCalls)
		if !inProd[n.Name] {
			nd.OpType = n.OpType
		}
		inCand[n.Name] = true
		d.CandidateTotalUS += per(n.TypicalUS(), candCalls)
	}
	types := map[string]*result.OpTypeDiff{}
	typeOf := func(op string) *result.OpTypeDiff {
		t := types[op]
		if t == nil {
			t = &result.OpTypeDiff{OpType: op}
			types[op] = t
		}
		return t
	}
	for _, n := range prod {
		t := typeOf(n.OpType)
		t.ProductionUS += per(n.TypicalUS(), prodCalls)
		t.ProductionNodes++
	}
	for _, n := range cand {
		t := typeOf(n.OpType)
		t.CandidateUS += per(n.TypicalUS(), candCalls)
		t.CandidateNodes++
	}
	for _, name := range order {
		nd := byName[name]
		nd.Delta = nd.CandidateUS - nd.ProductionUS
		if nd.ProductionUS > 0 && inCand[name] {
			nd.Ratio = nd.CandidateUS / nd.ProductionUS
		}
		d.Nodes = append(d.Nodes, *nd)
		switch {
		case inCand[name] && !inProd[name]:
			d.Added = append(d.Added, name)
		case inProd[name] && !inCand[name]:
			d.Removed = append(d.Removed, name)
		}
	}
	for _, t := range types {
		t.Delta = t.CandidateUS - t.ProductionUS
		if t.ProductionUS > 0 && t.CandidateNodes > 0 {
			t.Ratio = t.CandidateUS / t.ProductionUS
		}
		d.ByOpType = append(d.ByOpType, *t)
	}
	sort.SliceStable(d.Nodes, func(i, j int) bool {
		a, b := math.Abs(d.Nodes[i].Delta), math.Abs(d.Nodes[j].Delta)
		if a != b {
			return a > b
		}
		return d.Nodes[i].Name < d.Nodes[j].Name
	})
	sort.Slice(d.ByOpType, func(i, j int) bool {
		a, b := math.Abs(d.ByOpType[i].Delta), math.Abs(d.ByOpType[j].Delta)
		if a != b {
			return a > b
		}
		return d.ByOpType[i].OpType < d.ByOpType[j].OpType
	})
	sort.Strings(d.Added)
	sort.Strings(d.Removed)
	return d
}
