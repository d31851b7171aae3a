package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// pushTimeout bounds the Pushgateway push: a CI job must not hang on it.
const pushTimeout = 10 * time.Second

// pushMetrics PUTs the OpenMetrics report to a Prometheus Pushgateway
// under job "infergate" (replacing that group's metrics), in the text
// exposition format the Pushgateway parses: the OpenMetrics text without
// its "# EOF" line.
func pushMetrics(base string, res *result.Result) error {
	var buf bytes.Buffer
	if err := report.NewOpenMetrics(res).Report(&buf); err != nil {
		return err
	}
	body := strings.TrimSuffix(strings.TrimRight(buf.String(), "\n"), "# EOF")
	body = strings.TrimRight(body, "\n") + "\n"
	url := strings.TrimRight(base, "/") + "/metrics/job/infergate"
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	client := &http.Client{Timeout: pushTimeout}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("PUT %s: %s: %s", url, resp.Status, oneLine(string(msg)))
	}
	return nil
}
