// Package ortprof reads the Chrome-trace JSON that ONNX Runtime writes when
// session profiling is on, and totals the time of each graph node.
package ortprof

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// NodeStat is one graph node's kernel time over a profiled pass.
type NodeStat struct {
	Name     string  // the node's name in the (optimised) graph
	OpType   string  // e.g. "MatMul", "FusedMatMul"
	Provider string  // e.g. "CPUExecutionProvider"
	TotalUS  float64 // kernel time summed over the pass, microseconds
	Count    int64   // kernel runs
	// MedianUS is the median of the node's kernel runs. On a shared
	// machine one preempted run can cost milliseconds and swamp a sum of
	// microseconds; the median does not notice it.
	MedianUS float64
}

// TypicalUS is the node's time over the pass with every run at its median:
// TotalUS without the outliers a busy machine adds. Stats without a median
// (made by hand, or a median below the trace's microsecond) give TotalUS.
func (n NodeStat) TypicalUS() float64 {
	if n.MedianUS <= 0 {
		return n.TotalUS
	}
	return n.MedianUS * float64(n.Count)
}

type event struct {
	Cat  string  `json:"cat"`
	Name string  `json:"name"`
	Dur  float64 `json:"dur"`
	Args struct {
		OpName   string `json:"op_name"`
		Provider string `json:"provider"`
	} `json:"args"`
}

const kernelSuffix = "_kernel_time"

// Parse reads a trace and returns each node's totals, by name. Only the
// "Node" events that time a kernel count; fences and session events do not.
// ORT writes a JSON array of events; an object with a "traceEvents" array
// is read too.
func Parse(r io.Reader) ([]NodeStat, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var events []event
	if err := json.Unmarshal(data, &events); err != nil {
		var obj struct {
			TraceEvents []event `json:"traceEvents"`
		}
		if err2 := json.Unmarshal(data, &obj); err2 != nil || obj.TraceEvents == nil {
			return nil, fmt.Errorf("onnx runtime profile: %w", err)
		}
		events = obj.TraceEvents
	}
	byName := map[string]*NodeStat{}
	durs := map[string][]float64{}
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, kernelSuffix) {
			continue
		}
		name := strings.TrimSuffix(e.Name, kernelSuffix)
		if name == "" {
			name = e.Args.OpName // an unnamed node: its op type is the best label
		}
		s := byName[name]
		if s == nil {
			s = &NodeStat{Name: name, OpType: e.Args.OpName, Provider: e.Args.Provider}
			byName[name] = s
		}
		s.TotalUS += e.Dur
		s.Count++
		durs[name] = append(durs[name], e.Dur)
	}
	out := make([]NodeStat, 0, len(byName))
	for name, s := range byName {
		d := durs[name]
		sort.Float64s(d)
		if n := len(d); n%2 == 1 {
			s.MedianUS = d[n/2]
		} else {
			s.MedianUS = (d[n/2-1] + d[n/2]) / 2
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TotalUS != out[j].TotalUS {
			return out[i].TotalUS > out[j].TotalUS
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// OpTypeStat is the nodes of one op type, totalled.
type OpTypeStat struct {
	OpType  string
	TotalUS float64
	Count   int64
	Nodes   int
}

// ByOpType totals node stats by op type, largest first.
func ByOpType(nodes []NodeStat) []OpTypeStat {
	m := map[string]*OpTypeStat{}
	for _, n := range nodes {
		s := m[n.OpType]
		if s == nil {
			s = &OpTypeStat{OpType: n.OpType}
			m[n.OpType] = s
		}
		s.TotalUS += n.TotalUS
		s.Count += n.Count
		s.Nodes++
	}
	out := make([]OpTypeStat, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TotalUS != out[j].TotalUS {
			return out[i].TotalUS > out[j].TotalUS
		}
		return out[i].OpType < out[j].OpType
	})
	return out
}
