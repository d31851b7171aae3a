package kservetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// v2Routes serves the KServe v2 REST protocol.
func (s *Server) v2Routes(mux *http.ServeMux) {
	mux.HandleFunc("/v2/", s.authorized(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/v2")
		switch {
		case path == "" || path == "/":
			writeJSON(w, http.StatusOK, map[string]any{"name": "kservetest", "version": "1", "extensions": []string{}})
		case path == "/health/live":
			w.WriteHeader(http.StatusOK)
		case path == "/health/ready":
			s.writeReady(w)
		case strings.HasPrefix(path, "/models/"):
			s.v2Model(w, r, strings.TrimPrefix(path, "/models/"))
		default:
			writeError(w, http.StatusNotFound, "no route "+r.URL.Path)
		}
	}))
}

func (s *Server) writeReady(w http.ResponseWriter) {
	if s.ready() {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeError(w, http.StatusServiceUnavailable, "not ready")
}

// authorized enforces RequireHeader. Its 401 echoes the value it got, the
// way careless servers do, so tests can check that the client scrubs it.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	name, want := s.opts.RequireHeader[0], s.opts.RequireHeader[1]
	if name == "" {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get(name); got != want {
			writeError(w, http.StatusUnauthorized, fmt.Sprintf("unauthorized: %s %q is wrong", name, got))
			return
		}
		h(w, r)
	}
}

// v2Model serves NAME[/versions/V][/ready|/infer].
func (s *Server) v2Model(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] != s.name {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no model %q", parts[0]))
		return
	}
	parts = parts[1:]
	if len(parts) >= 2 && parts[0] == "versions" {
		parts = parts[2:]
	}
	switch {
	case len(parts) == 0 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"name": s.name, "versions": []string{"1"}, "platform": "kservetest",
			"inputs": metaJSON(s.model.Inputs()), "outputs": metaJSON(s.model.Outputs()),
		})
	case len(parts) == 1 && parts[0] == "ready" && r.Method == http.MethodGet:
		s.writeReady(w)
	case len(parts) == 1 && parts[0] == "infer" && r.Method == http.MethodPost:
		s.v2Infer(w, r)
	default:
		writeError(w, http.StatusNotFound, "no route "+r.URL.Path)
	}
}

func metaJSON(ms []TensorMeta) []map[string]any {
	out := make([]map[string]any, len(ms))
	for i, m := range ms {
		out[i] = map[string]any{"name": m.Name, "datatype": m.Datatype, "shape": m.Shape}
	}
	return out
}

// faulted reads the body, then applies the faults. It reports whether the
// handler should go on to answer normally.
func (s *Server) faulted(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, false
	}
	out, err := s.admit(r.Context())
	if err != nil {
		return nil, false // the client gave up; nobody to answer
	}
	switch out {
	case drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return nil, false
	case fail:
		msg := "injected failure"
		if s.faults.Load().EchoErrors {
			msg += " for request " + string(body[:min(len(body), 120)])
		}
		writeError(w, http.StatusInternalServerError, msg)
		return nil, false
	case bad:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"outputs": [truncated`))
		return nil, false
	}
	return body, true
}

func (s *Server) v2Infer(w http.ResponseWriter, r *http.Request) {
	body, ok := s.faulted(w, r)
	if !ok {
		return
	}
	var req struct {
		Inputs []struct {
			Name     string          `json:"name"`
			Datatype string          `json:"datatype"`
			Shape    []int64         `json:"shape"`
			Data     json.RawMessage `json:"data"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "request is not JSON: "+err.Error())
		return
	}
	ins := make([]Tensor, len(req.Inputs))
	for i, in := range req.Inputs {
		vals, _, err := flattenJSON(in.Data)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("input %s: %v", in.Name, err))
			return
		}
		ins[i] = Tensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, Data: vals}
	}
	outs, err := s.infer(ins)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"model_name":`...)
	b = strconv.AppendQuote(b, s.name)
	b = append(b, `,"model_version":"1","outputs":[`...)
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = strconv.AppendQuote(b, o.Name)
		b = append(b, `,"datatype":"`...)
		b = append(b, o.Datatype...)
		b = append(b, `","shape":`...)
		b = appendShape(b, o.Shape)
		b = append(b, `,"data":`...)
		b = appendJSONValues(b, o.Datatype, o.Data)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (s *Server) infer(ins []Tensor) ([]Tensor, error) {
	checked, err := checkInputs(s.model, ins)
	if err != nil {
		return nil, err
	}
	return s.model.Infer(checked)
}

func appendShape(b []byte, shape []int64) []byte {
	b = append(b, '[')
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return append(b, ']')
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// tfRoutes serves TensorFlow Serving's REST API: model status, metadata
// and predict, in both the row ("instances") and columnar ("inputs")
// formats.
func (s *Server) tfRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/v1/models/", s.authorized(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/v1/models/")
		verb := ""
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			rest, verb = rest[:i], rest[i+1:]
		}
		parts := strings.Split(strings.Trim(rest, "/"), "/")
		if parts[0] != s.name {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Servable not found for request: Latest(%s)", parts[0]))
			return
		}
		parts = parts[1:]
		if len(parts) >= 2 && parts[0] == "versions" {
			parts = parts[2:]
		}
		switch {
		case verb == "predict" && len(parts) == 0 && r.Method == http.MethodPost:
			s.tfPredict(w, r)
		case verb == "" && len(parts) == 0 && r.Method == http.MethodGet:
			state := "AVAILABLE"
			if !s.ready() {
				state = "LOADING"
			}
			writeJSON(w, http.StatusOK, map[string]any{"model_version_status": []any{map[string]any{
				"version": "1", "state": state, "status": map[string]string{"error_code": "OK", "error_message": ""},
			}}})
		case verb == "" && len(parts) == 1 && parts[0] == "metadata" && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, s.tfMetadata())
		default:
			writeError(w, http.StatusNotFound, "no route "+r.URL.Path)
		}
	}))
}

var v2ToTF = map[string]string{
	"FP32": "DT_FLOAT", "FP64": "DT_DOUBLE", "FP16": "DT_HALF", "INT64": "DT_INT64",
	"INT32": "DT_INT32", "INT8": "DT_INT8", "UINT8": "DT_UINT8", "BOOL": "DT_BOOL",
}

func tfInfo(m TensorMeta) map[string]any {
	var dims []map[string]string
	for _, d := range m.Shape {
		// proto3 JSON writes int64 as strings, as TF Serving does.
		dims = append(dims, map[string]string{"size": strconv.FormatInt(d, 10), "name": ""})
	}
	return map[string]any{
		"dtype":        v2ToTF[m.Datatype],
		"tensor_shape": map[string]any{"dim": dims, "unknown_rank": false},
		"name":         "serving_default_" + m.Name + ":0",
	}
}

func (s *Server) tfMetadata() map[string]any {
	ins, outs := map[string]any{}, map[string]any{}
	for _, m := range s.model.Inputs() {
		ins[m.Name] = tfInfo(m)
	}
	for _, m := range s.model.Outputs() {
		outs[m.Name] = tfInfo(m)
	}
	return map[string]any{
		"model_spec": map[string]any{"name": s.name, "signature_name": "", "version": "1"},
		"metadata": map[string]any{"signature_def": map[string]any{"signature_def": map[string]any{
			"serving_default": map[string]any{"inputs": ins, "outputs": outs, "method_name": "tensorflow/serving/predict"},
		}}},
	}
}

func (s *Server) tfPredict(w http.ResponseWriter, r *http.Request) {
	body, ok := s.faulted(w, r)
	if !ok {
		return
	}
	var req struct {
		Signature string                     `json:"signature_name"`
		Instances []json.RawMessage          `json:"instances"`
		Inputs    map[string]json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "request is not JSON: "+err.Error())
		return
	}
	if req.Signature != "" && req.Signature != "serving_default" {
		writeError(w, http.StatusBadRequest, "no signature "+req.Signature)
		return
	}
	metas := s.model.Inputs()
	var ins []Tensor
	row := req.Instances != nil
	switch {
	case row:
		byName := map[string]*Tensor{}
		for _, m := range metas {
			ins = append(ins, Tensor{Name: m.Name, Shape: []int64{int64(len(req.Instances))}})
		}
		for i := range ins {
			byName[ins[i].Name] = &ins[i]
		}
		for _, inst := range req.Instances {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(inst, &fields); err != nil {
				if len(metas) != 1 {
					writeError(w, http.StatusBadRequest, "instances must be objects for a model of many inputs")
					return
				}
				fields = map[string]json.RawMessage{metas[0].Name: inst}
			}
			for name, raw := range fields {
				t, ok := byName[name]
				if !ok {
					writeError(w, http.StatusBadRequest, "unexpected input "+name)
					return
				}
				vals, shape, err := flattenJSON(raw)
				if err != nil {
					writeError(w, http.StatusBadRequest, fmt.Sprintf("input %s: %v", name, err))
					return
				}
				if len(t.Shape) == 1 {
					t.Shape = append(t.Shape, shape...)
				}
				t.Data = append(t.Data, vals...)
			}
		}
	case req.Inputs != nil:
		for name, raw := range req.Inputs {
			vals, shape, err := flattenJSON(raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("input %s: %v", name, err))
				return
			}
			ins = append(ins, Tensor{Name: name, Shape: shape, Data: vals})
		}
	default:
		writeError(w, http.StatusBadRequest, "the request has neither instances nor inputs")
		return
	}
	outs, err := s.infer(ins)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Name < outs[j].Name })
	b := make([]byte, 0, 256)
	if row {
		// One prediction per row: the row's outputs, an object when there
		// are many, the bare value when there is one, as TF Serving does.
		rows := int(ins[0].Shape[0])
		b = append(b, `{"predictions":[`...)
		for r := range rows {
			if r > 0 {
				b = append(b, ',')
			}
			if len(outs) > 1 {
				b = append(b, '{')
			}
			for i, o := range outs {
				if len(outs) > 1 {
					if i > 0 {
						b = append(b, ',')
					}
					b = strconv.AppendQuote(b, o.Name)
					b = append(b, ':')
				}
				per := len(o.Data) / max(rows, 1)
				part := o.Data[r*per : (r+1)*per]
				if len(o.Shape) <= 1 {
					b = appendJSONValue(b, o.Datatype, part[0])
				} else {
					b = appendJSONValues(b, o.Datatype, part)
				}
			}
			if len(outs) > 1 {
				b = append(b, '}')
			}
		}
		b = append(b, "]}"...)
	} else {
		b = append(b, `{"outputs":`...)
		if len(outs) == 1 {
			b = appendJSONValues(b, outs[0].Datatype, outs[0].Data)
		} else {
			b = append(b, '{')
			for i, o := range outs {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, o.Name)
				b = append(b, ':')
				b = appendJSONValues(b, o.Datatype, o.Data)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
