package latency

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"nas/blocks/kernels"
)

// testFingerprint is a fixed fingerprint, so that tests do not depend on
// the machine they run on.
func testFingerprint(threads int) Fingerprint {
	return Fingerprint{
		CPUModel:      "AMD EPYC 9R14 96-Core Processor",
		CPUFeatures:   []string{"avx", "avx2", "avx512f", "fma"},
		KernelPath:    "avx512",
		KernelVersion: 1,
		GOOS:          "linux",
		GOARCH:        "amd64",
		Threads:       threads,
		GoVersion:     "go1.26.0",
		OSRelease:     "6.1.0-18-cloud-amd64",
	}
}

func TestParseCPUModel(t *testing.T) {
	tests := []struct {
		name, cpuinfo, want string
	}{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC  9R14 96-Core Processor\n\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 9R14 96-Core Processor"},
		{"arm hardware", "processor\t: 0\nBogoMIPS\t: 108.00\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n", "BCM2835"},
		{"arm64 model", "processor\t: 0\nModel\t: Raspberry Pi 5\n", "Raspberry Pi 5"},
		{"arm64 ids", "processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd0c\n", "implementer 0x41 part 0xd0c"},
		{"empty", "", ""},
		{"garbage", "no colons here\n\x00\x01", ""},
		{"empty value", "model name\t:\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, parseCPUModel(tt.cpuinfo))
		})
	}
}

func TestFingerprintIdentity(t *testing.T) {
	fp := testFingerprint(1)
	// The canonical string and the ID are part of the file format: a change
	// here orphans every table already profiled.
	require.Equal(t, "cpu=AMD EPYC 9R14 96-Core Processor;cpu_features=avx,avx2,avx512f,fma;kernel_path=avx512;kernel_version=1;goos=linux;goarch=amd64;threads=1;go_version=go1.26.0", fp.Canonical())
	require.Regexp(t, `^fp-[0-9a-f]{16}$`, fp.ID())
	require.Equal(t, fp.ID(), testFingerprint(1).ID())

	other := fp
	other.OSRelease = "6.12.0"
	require.True(t, fp.Equal(other), "the OS release is informational")
	require.Equal(t, fp.ID(), other.ID())

	two := testFingerprint(2)
	two.KernelVersion = 2
	require.False(t, fp.Equal(two))
	require.NotEqual(t, fp.ID(), two.ID())
	require.Equal(t, []FieldDiff{
		{Field: "kernel_version", Table: "1", This: "2"},
		{Field: "threads", Table: "1", This: "2"},
	}, fp.Diff(two))
	require.Empty(t, fp.Diff(other))
}

func TestCurrentFingerprint(t *testing.T) {
	fp := CurrentFingerprint(3)
	require.NoError(t, fp.validate())
	require.Equal(t, 3, fp.Threads)
	require.Equal(t, runtime.GOARCH, fp.GOARCH)
	require.Equal(t, runtime.GOOS, fp.GOOS)
	require.Equal(t, runtime.Version(), fp.GoVersion)
	require.Equal(t, kernels.Path(), fp.KernelPath)
	require.Equal(t, kernels.Version, fp.KernelVersion)
	require.IsIncreasing(t, fp.CPUFeatures)
	require.True(t, fp.Equal(CurrentFingerprint(3)), "the fingerprint of this machine is stable")
}
