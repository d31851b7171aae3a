package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite docs/infergate.schema.json")

const schemaPath = "../../docs/infergate.schema.json"

// TestConfigSchemaCurrent keeps the committed JSON Schema in step with the
// flags, and checks that it accepts what the config reader accepts.
func TestConfigSchemaCurrent(t *testing.T) {
	got, err := json.MarshalIndent(configSchema(&env{}), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *updateSchema {
		if err := os.WriteFile(schemaPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the flags: go test ./cmd/infergate -run TestConfigSchemaCurrent -update-schema", schemaPath)
	}
	var doc struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(want, &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"dataset", "candidate", "production", "max-latency-increase", "input-map", "pairs", "device", "json"} {
		if _, ok := doc.Properties[key]; !ok {
			t.Errorf("the schema lacks %q", key)
		}
	}
	if _, ok := doc.Properties["config"]; ok {
		t.Error("the schema offers config, which a config cannot set")
	}
}

// TestConfigSchemaValidates compiles the schema and checks it against
// configs the reader accepts and refuses.
func TestConfigSchemaValidates(t *testing.T) {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("infergate.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("infergate.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	asJSON := func(t *testing.T, y []byte) any {
		var v any
		if err := yaml.Unmarshal(y, &v); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	example, err := os.ReadFile("../../examples/infergate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := [][]byte{example, []byte(`
dataset: d.parquet
input-map: {ids: input_ids}
concurrency-sweep: [1, 2, 4]
max-latency-increase: 1.15
pairs:
  - name: ranker
    candidate: a.onnx
    production: b.onnx
`)}
	for i, y := range good {
		if _, err := parseConfig("c.yaml", y, knownConfigKeys(&env{})); err != nil {
			t.Fatalf("good config %d: the reader refuses it: %v", i, err)
		}
		if err := schema.Validate(asJSON(t, y)); err != nil {
			t.Errorf("good config %d: the schema refuses it: %v", i, err)
		}
	}
	for _, y := range []string{"datset: d.parquet\n", "pairs:\n  - candidate: a.onnx\n", "warmup: [1, 2]\n"} {
		if err := schema.Validate(asJSON(t, []byte(y))); err == nil {
			t.Errorf("the schema accepts %q", y)
		}
	}
}
