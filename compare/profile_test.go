package compare

import (
	"testing"

	"github.com/infergate/infergate/internal/ortprof"
)

func TestProfileDiff(t *testing.T) {
	prod := []ortprof.NodeStat{
		{Name: "MatMul_0", OpType: "MatMul", TotalUS: 1000, Count: 10},
		{Name: "MatMul_3", OpType: "MatMul", TotalUS: 400, Count: 10},
		{Name: "Relu_2", OpType: "Relu", TotalUS: 50, Count: 10},
		{Name: "Gone_9", OpType: "Softmax", TotalUS: 100, Count: 10},
	}
	cand := []ortprof.NodeStat{
		{Name: "MatMul_0", OpType: "MatMul", TotalUS: 2000, Count: 20},
		{Name: "MatMul_3", OpType: "MatMul", TotalUS: 8000, Count: 20},
		{Name: "Relu_2", OpType: "Relu", TotalUS: 100, Count: 20},
		{Name: "New_7", OpType: "Gelu", TotalUS: 60, Count: 20},
	}
	d := ProfileDiff(prod, 10, cand, 20)
	if d.Requests != 10 {
		t.Errorf("requests = %d", d.Requests)
	}
	top := d.Nodes[0]
	if top.Name != "MatMul_3" || top.ProductionUS != 40 || top.CandidateUS != 400 || top.Delta != 360 || top.Ratio != 10 {
		t.Errorf("top node = %+v", top)
	}
	if len(d.Nodes) != 5 {
		t.Errorf("nodes = %+v", d.Nodes)
	}
	for _, n := range d.Nodes {
		if n.Name == "MatMul_0" && (n.Delta != 0 || n.Ratio != 1) {
			t.Errorf("unchanged node = %+v", n)
		}
		if n.Name == "New_7" && (n.ProductionUS != 0 || n.CandidateUS != 3 || n.Ratio != 0) {
			t.Errorf("added node = %+v", n)
		}
	}
	if len(d.Added) != 1 || d.Added[0] != "New_7" || len(d.Removed) != 1 || d.Removed[0] != "Gone_9" {
		t.Errorf("added %v removed %v", d.Added, d.Removed)
	}
	bt := d.ByOpType[0]
	if bt.OpType != "MatMul" || bt.ProductionUS != 140 || bt.CandidateUS != 500 || bt.ProductionNodes != 2 {
		t.Errorf("by op type = %+v", d.ByOpType)
	}
	if d.ProductionTotalUS != 155 || d.CandidateTotalUS != 508 {
		t.Errorf("totals %v %v", d.ProductionTotalUS, d.CandidateTotalUS)
	}
}
