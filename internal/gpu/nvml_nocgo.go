//go:build !cgo

package gpu

import "fmt"

// NVML is an opened NVML library. Without cgo go-nvml cannot be built, so
// this stand-in keeps the API and never opens.
type NVML struct{}

// OpenNVML always fails in a binary built without cgo.
func OpenNVML() (*NVML, error) {
	return nil, fmt.Errorf("%w: this infergate was built without cgo, so it cannot load NVML", ErrUnavailable)
}

// Devices returns nothing: a cgo-less NVML never opens.
func (n *NVML) Devices() []DeviceInfo { return nil }

// Device always fails: a cgo-less NVML has no devices.
func (n *NVML) Device(index int) (Device, error) {
	return nil, fmt.Errorf("NVML device %d: out of range, NVML sees 0 device(s)", index)
}

// FindProcess never finds anything.
func (n *NVML) FindProcess(pid int) (index int, ok bool) { return 0, false }

// Close does nothing.
func (n *NVML) Close() error { return nil }
