package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// procStatusBytes reads a "kB" field such as VmRSS or VmHWM from
// /proc/self/status. It returns 0 where /proc is not available.
func procStatusBytes(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseStatusField(data, field)
}

// processRSS reads another process's resident set; 0 when it is gone or
// /proc is not available.
func processRSS(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	return parseStatusField(data, "VmRSS")
}

// preferForOOMKill makes the kernel's OOM killer pick the process first
// (oom_score_adj 1000; raising it needs no privilege), so that a runaway
// model takes down its worker, not the CI runner's other processes.
func preferForOOMKill(pid int) {
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte("1000"), 0)
}

func parseStatusField(data []byte, field string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(data))
	prefix := []byte(field + ":")
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		fields := bytes.Fields(line[len(prefix):])
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0+), so the next
// reading covers only what happens from now on. It reports whether the
// reset worked; where it did not, the peak includes loading.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
