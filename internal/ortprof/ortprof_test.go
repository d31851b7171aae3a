package ortprof

import (
	"strings"
	"testing"
)

// trace is a trimmed-down profile the way ONNX Runtime writes one: session
// events, fences, and kernel times for three nodes, one unnamed.
const trace = `[
{"cat" : "Session","pid" :1,"tid" :1,"dur" :500,"ts" :1,"ph" : "X","name" :"model_loading_uri","args" : {}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :0,"ts" :10,"ph" : "X","name" :"MatMul_0_fence_before","args" : {"op_name" : "MatMul"}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :30,"ts" :11,"ph" : "X","name" :"MatMul_0_kernel_time","args" : {"op_name" : "MatMul","provider" : "CPUExecutionProvider"}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :5,"ts" :41,"ph" : "X","name" :"Add_1_kernel_time","args" : {"op_name" : "Add","provider" : "CPUExecutionProvider"}},
{"cat" : "Session","pid" :1,"tid" :1,"dur" :60,"ts" :9,"ph" : "X","name" :"SequentialExecutor::Execute","args" : {}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :50,"ts" :100,"ph" : "X","name" :"MatMul_0_kernel_time","args" : {"op_name" : "MatMul","provider" : "CPUExecutionProvider"}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :7,"ts" :151,"ph" : "X","name" :"Add_1_kernel_time","args" : {"op_name" : "Add","provider" : "CPUExecutionProvider"}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :2,"ts" :160,"ph" : "X","name" :"_kernel_time","args" : {"op_name" : "Relu","provider" : "CPUExecutionProvider"}},
{"cat" : "Node","pid" :1,"tid" :1,"dur" :4,"ts" :170,"ph" : "X","name" :"_kernel_time","args" : {"op_name" : "Relu","provider" : "CPUExecutionProvider"}}
]`

func TestParseTotals(t *testing.T) {
	got, err := Parse(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeStat{
		{Name: "MatMul_0", OpType: "MatMul", Provider: "CPUExecutionProvider", TotalUS: 80, Count: 2, MedianUS: 40},
		{Name: "Add_1", OpType: "Add", Provider: "CPUExecutionProvider", TotalUS: 12, Count: 2, MedianUS: 6},
		{Name: "Relu", OpType: "Relu", Provider: "CPUExecutionProvider", TotalUS: 6, Count: 2, MedianUS: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("node %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	types := ByOpType(append(got, NodeStat{Name: "MatMul_9", OpType: "MatMul", TotalUS: 20, Count: 2}))
	if types[0].OpType != "MatMul" || types[0].TotalUS != 100 || types[0].Nodes != 2 || types[0].Count != 4 {
		t.Errorf("by op type = %+v", types)
	}
}

func TestParseTraceEventsObject(t *testing.T) {
	got, err := Parse(strings.NewReader(`{"traceEvents":` + trace + `}`))
	if err != nil || len(got) != 3 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := Parse(strings.NewReader("not json")); err == nil {
		t.Fatal("no error")
	}
}

// TestMedianIgnoresPreemption: one kernel run that a busy machine stretched
// to milliseconds moves the total, not the typical time.
func TestMedianIgnoresPreemption(t *testing.T) {
	trace := `[
	{"cat":"Node","name":"mm_kernel_time","dur":10,"args":{"op_name":"MatMul"}},
	{"cat":"Node","name":"mm_kernel_time","dur":12,"args":{"op_name":"MatMul"}},
	{"cat":"Node","name":"mm_kernel_time","dur":5000,"args":{"op_name":"MatMul"}},
	{"cat":"Node","name":"mm_kernel_time","dur":11,"args":{"op_name":"MatMul"}}]`
	nodes, err := Parse(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	n := nodes[0]
	if n.TotalUS != 5033 || n.MedianUS != 11.5 || n.TypicalUS() != 46 {
		t.Errorf("total %v, median %v, typical %v; want 5033, 11.5, 46", n.TotalUS, n.MedianUS, n.TypicalUS())
	}
}
