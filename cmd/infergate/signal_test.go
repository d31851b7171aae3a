package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/infergate/infergate/internal/ortlib"
)

func TestWatchSignals(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ctx, cancel := context.WithCancelCause(context.Background())
	exited := make(chan int, 1)
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchSignals(sigs, cancel, func(code int) { exited <- code }, &stderr)
	}()
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	if got := interruptCode(ctx); got != ExitTerminated {
		t.Errorf("first SIGTERM: exit code %d, want %d", got, ExitTerminated)
	}
	select {
	case code := <-exited:
		t.Fatalf("exited (%d) on the first signal", code)
	default:
	}
	sigs <- syscall.SIGINT
	<-done
	if code := <-exited; code != 130 {
		t.Errorf("second signal: exit %d, want 130", code)
	}
	if !strings.Contains(stderr.String(), "SIGTERM: stopping") {
		t.Errorf("stderr %q", stderr.String())
	}
	if got := interruptCode(context.Background()); got != ExitInterrupted {
		t.Errorf("a context cancelled without a signal: %d, want %d", got, ExitInterrupted)
	}
}

// startInfergate runs infergate as a process of its own (the test binary
// in its Main mode), with its workers, and returns once it measures.
func startInfergate(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cmdWorkerEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	measuring := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "measuring") {
				seen = true
				close(measuring)
			}
		}
	}()
	select {
	case <-measuring:
	case <-time.After(60 * time.Second):
		t.Fatalf("no measurement started within 60 s; stderr:\n%s", stderr.String())
	}
	return cmd, &stdout, &stderr
}

// children lists the processes whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// procStat reads a process's parent and state from /proc/PID/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid …: comm may hold spaces, so cut at the last ')'.
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0], true
}

// gone waits for pid to exit; a zombie no one reaps counts as gone.
func gone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, state, ok := procStat(pid); !ok || state == "Z" {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func longRun(out string) []string {
	return []string{"run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx"),
		"--dataset", td("mlp.parquet"), "--duration", "120s", "--rounds", "1200", "--warmup", "20",
		"--intra-op-threads", "1", "--max-latency-increase", "1.15",
		"--json", out, "--markdown", out + ".md", "--junit", out + ".xml"}
}

// TestSIGTERMWritesPartialReports stops a real run with SIGTERM: exit 143,
// every report written and marked interrupted, the workers gone.
func TestSIGTERMWritesPartialReports(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "r.json")
	cmd, stdout, stderr := startInfergate(t, longRun(out)...)
	workers := children(t, cmd.Process.Pid)
	if len(workers) != 2 {
		t.Fatalf("%d worker processes, want 2", len(workers))
	}
	time.Sleep(time.Second) // rounds of 100 ms: several done
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != int(ExitTerminated) {
		t.Fatalf("exit %v, want %d; stderr:\n%s", err, ExitTerminated, stderr)
	}
	res := readResult(t, out)
	if !res.Interrupted || len(res.Targets) != 2 || len(res.Targets[0].Rounds) == 0 {
		t.Fatalf("partial result: interrupted %v, %d targets", res.Interrupted, len(res.Targets))
	}
	for _, f := range []string{out + ".md", out + ".xml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.ToLower(string(b)), "interrupted") {
			t.Errorf("%s does not say the run was interrupted", filepath.Base(f))
		}
	}
	if !strings.Contains(strings.ToLower(stdout.String()), "interrupted") {
		t.Errorf("the table does not say the run was interrupted:\n%s", stdout)
	}
	for _, w := range workers {
		if !gone(w, 5*time.Second) {
			t.Errorf("worker %d outlived infergate", w)
		}
	}
}

// TestWorkersDieWithParent kills infergate with SIGKILL, which it cannot
// catch: its workers must not stay behind.
func TestWorkersDieWithParent(t *testing.T) {
	ortlib.Require(t)
	out := filepath.Join(t.TempDir(), "r.json")
	cmd, _, _ := startInfergate(t, longRun(out)...)
	workers := children(t, cmd.Process.Pid)
	if len(workers) != 2 {
		t.Fatalf("%d worker processes, want 2", len(workers))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for _, w := range workers {
		if !gone(w, 5*time.Second) {
			t.Errorf("worker %d outlived its killed parent", w)
		}
	}
}
