package main

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// pushTimeout bounds the Pushgateway push: a CI job must not hang on it. A
// variable so that a test can wait less.
var pushTimeout = 10 * time.Second

// maxPushError caps a failed push's message: the client quotes the
// server's whole answer.
const maxPushError = 300

// pushMetrics pushes the OpenMetrics report's families to a Prometheus
// Pushgateway under job "infergate" with client_golang's push client: a
// PUT, which replaces whatever that group held, in the delimited protobuf
// format. The families are built directly (report.OpenMetricsFamilies)
// rather than parsed back from the text, so counters and units keep their
// types and nothing is parsed twice.
func pushMetrics(base string, res *result.Result) error {
	fams, err := report.OpenMetricsFamilies(res)
	if err != nil {
		return err
	}
	gather := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return fams, nil })
	err = push.New(base, "infergate").
		Client(&http.Client{Timeout: pushTimeout}).
		Gatherer(gather).
		Push()
	if err == nil {
		return nil
	}
	// The client's message names the full URL, credentials included.
	msg := strings.ReplaceAll(oneLine(err.Error()), strings.TrimSuffix(base, "/"), bench.RedactURL(strings.TrimSuffix(base, "/")))
	if len(msg) > maxPushError {
		msg = strings.ToValidUTF8(msg[:maxPushError], "") + "…"
	}
	return errors.New(msg)
}
