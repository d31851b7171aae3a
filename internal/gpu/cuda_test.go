package gpu

import (
	"strings"
	"testing"
)

func TestCUDAOrdinalToNVML(t *testing.T) {
	const (
		uuid0 = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
		uuid1 = "GPU-8932aaaa-0000-1111-2222-333344445555"
		uuid2 = "GPU-12345678-0000-1111-2222-333344445555"
	)
	three := []DeviceInfo{
		{Index: 0, UUID: uuid0, Name: "NVIDIA H100 80GB HBM3"},
		{Index: 1, UUID: uuid1, Name: "NVIDIA H100 80GB HBM3"},
		{Index: 2, UUID: uuid2, Name: "NVIDIA H100 80GB HBM3"},
	}
	one := three[:1]

	for _, tc := range []struct {
		ordinal int
		cvd     string
		devices []DeviceInfo
		want    int
		err     string // substring; "" means success
	}{
		// Unset: identity.
		{0, "", three, 0, ""},
		{2, "", three, 2, ""},
		{1, "", one, 0, "cuda:1: only 1 GPU visible (NVIDIA H100 80GB HBM3)"},
		{0, "", nil, 0, "cuda:0: no GPU visible"},
		{-1, "", three, 0, "cannot be negative"},
		// Integers, reordering, spaces.
		{0, "2", three, 2, ""},
		{0, "1,0", three, 1, ""},
		{1, "1,0", three, 0, ""},
		{1, "2, 0", three, 0, ""},
		{2, "0,1", three, 0, "cuda:2: CUDA_VISIBLE_DEVICES=0,1 makes 2 GPUs visible"},
		// UUIDs and unique prefixes, in any case.
		{0, uuid2, three, 2, ""},
		{1, "0," + uuid1, three, 1, ""},
		{0, "GPU-1234", three, 2, ""},
		{0, "GPU-8932F937", three, 0, ""},
		{0, "GPU-8932", three, 0, `makes no GPU visible (CUDA stops at "GPU-8932": more than one GPU's UUID starts so)`}, // ambiguous
		{0, "GPU-ffff", three, 0, `makes no GPU visible (CUDA stops at "GPU-ffff": no GPU has that UUID)`},
		// The first invalid entry ends the list.
		{0, "2,x,1", three, 2, ""},
		{1, "2,x,1", three, 0, `cuda:1: CUDA_VISIBLE_DEVICES=2,x,1 makes 1 GPU visible (CUDA stops at "x": not a GPU index or UUID)`},
		{1, "0,7,1", three, 0, `makes 1 GPU visible (CUDA stops at "7": there is no GPU 7 among 3)`},
		{1, "0,0,1", three, 0, `makes 1 GPU visible (CUDA stops at "0": repeated)`},
		{1, "0,,1", three, 0, `makes 1 GPU visible`},
		{1, "0,GPU-1234", three, 2, ""},
		// Hiding every GPU.
		{0, "-1", three, 0, "cuda:0: CUDA_VISIBLE_DEVICES=-1 makes no GPU visible"},
		{0, " -1 ", three, 0, "makes no GPU visible"},
		{0, "none", three, 0, "makes no GPU visible"},
		{0, "NoDevFiles", three, 0, "makes no GPU visible"},
		// MIG: legacy form names its parent; new form cannot be mapped.
		{0, "MIG-" + uuid1 + "/1/0", three, 1, ""},
		{0, "MIG-5c2b9e3c-0000-1111-2222-333344445555", three, 0, "is a MIG instance"},
		{1, "MIG-5c2b9e3c-0000-1111-2222-333344445555,1", three, 1, ""},
	} {
		got, err := CUDAOrdinalToNVML(tc.ordinal, tc.cvd, tc.devices)
		name := tc.cvd
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("cuda:%d with %q: unexpected error %v", tc.ordinal, name, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("cuda:%d with %q = %d, want %d", tc.ordinal, name, got, tc.want)
		case tc.err != "" && err == nil:
			t.Errorf("cuda:%d with %q = %d, want error containing %q", tc.ordinal, name, got, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("cuda:%d with %q: error %q does not contain %q", tc.ordinal, name, err, tc.err)
		}
	}
}

func TestCUDAOrdinalUsesDeviceIndex(t *testing.T) {
	// devices carry their NVML index; the result is that, not a slice position.
	devs := []DeviceInfo{{Index: 4, UUID: "GPU-a"}, {Index: 5, UUID: "GPU-b"}}
	if got, err := CUDAOrdinalToNVML(1, "", devs); err != nil || got != 5 {
		t.Errorf("got %d, %v; want 5", got, err)
	}
	if got, err := CUDAOrdinalToNVML(0, "GPU-b", devs); err != nil || got != 5 {
		t.Errorf("got %d, %v; want 5", got, err)
	}
}

func TestCUDAOrdinalErrorsExact(t *testing.T) {
	devs := []DeviceInfo{{Index: 0, UUID: "GPU-a", Name: "NVIDIA H100 80GB HBM3"}}
	for _, tc := range []struct {
		ordinal int
		cvd     string
		want    string
	}{
		// Deliberately hiding GPUs needs no explanation of where CUDA stopped.
		{0, "-1", "cuda:0: CUDA_VISIBLE_DEVICES=-1 makes no GPU visible"},
		{1, "", "cuda:1: only 1 GPU visible (NVIDIA H100 80GB HBM3)"},
		{1, "0", "cuda:1: CUDA_VISIBLE_DEVICES=0 makes 1 GPU visible"},
	} {
		_, err := CUDAOrdinalToNVML(tc.ordinal, tc.cvd, devs)
		if err == nil || err.Error() != tc.want {
			t.Errorf("cuda:%d with %q: error %v, want %q", tc.ordinal, tc.cvd, err, tc.want)
		}
	}
}
