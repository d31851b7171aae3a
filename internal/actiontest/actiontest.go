// Package actiontest checks the repository's GitHub Actions files beyond
// what actionlint does: actionlint lints workflows, not a composite
// action's action.yml, and neither enforces the project's rule that no
// ${{ }} expression ever appears inside a run: script (an expression there
// is pasted into the script before the shell sees it: script injection
// for any value an outsider controls). Values reach scripts through env:.
package actiontest

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Step is the part of a step these checks read.
type Step struct {
	Name  string            `yaml:"name"`
	ID    string            `yaml:"id"`
	Uses  string            `yaml:"uses"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
	With  map[string]string `yaml:"with"`
	Line  int               `yaml:"-"`
}

// Action is a composite action's metadata.
type Action struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []Step `yaml:"steps"`
	} `yaml:"runs"`
}

// Workflow is a workflow's jobs and their steps.
type Workflow struct {
	Jobs map[string]struct {
		Steps []Step `yaml:"steps"`
	} `yaml:"jobs"`
}

// ParseAction parses action.yml.
func ParseAction(data []byte) (*Action, error) {
	var a Action
	if err := yaml.Unmarshal(data, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ParseWorkflow parses a workflow file.
func ParseWorkflow(data []byte) (*Workflow, error) {
	var w Workflow
	if err := yaml.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// ExpressionInRun returns one line per step whose run: script contains a
// ${{ expression.
func ExpressionInRun(where string, steps []Step) []string {
	var bad []string
	for i, s := range steps {
		if strings.Contains(s.Run, "${{") {
			bad = append(bad, fmt.Sprintf("%s: step %d (%s): run: contains ${{ }}; pass the value through env: and quote it", where, i+1, stepName(s)))
		}
	}
	return bad
}

func stepName(s Step) string {
	switch {
	case s.Name != "":
		return s.Name
	case s.ID != "":
		return s.ID
	case s.Uses != "":
		return s.Uses
	}
	return "unnamed"
}

var inputRef = regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`)

// InputRefs returns the input names that expressions in data refer to.
func InputRefs(data []byte) []string {
	var out []string
	for _, m := range inputRef.FindAllSubmatch(data, -1) {
		out = append(out, string(m[1]))
	}
	return out
}
