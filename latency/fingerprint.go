package latency

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/cpu"

	"nas/blocks/kernels"
)

// Fingerprint identifies what a latency measurement depends on: the CPU, the
// SIMD features and kernel path used, the platform, the thread count, the Go
// toolchain and the version of nas's kernels. Two machines with equal
// fingerprints are expected to time a block alike; a table is only used for
// the fingerprint it was measured with.
//
// OSRelease is recorded for the reader but is not part of the identity: a
// kernel security update does not invalidate a table.
type Fingerprint struct {
	CPUModel      string   `json:"cpu_model"`
	CPUFeatures   []string `json:"cpu_features"` // sorted SIMD features present, of those nas's kernels can use
	KernelPath    string   `json:"kernel_path"`  // kernels.Path(): avx512, avx2, generic
	KernelVersion int      `json:"kernel_version"`
	GOOS          string   `json:"goos"`
	GOARCH        string   `json:"goarch"`
	Threads       int      `json:"threads"`
	GoVersion     string   `json:"go_version"`
	OSRelease     string   `json:"os_release,omitempty"` // uname -r; informational only
}

// CurrentFingerprint returns the fingerprint of this machine and this build
// when measuring with the given number of threads.
func CurrentFingerprint(threads int) Fingerprint {
	fp := Fingerprint{
		CPUModel:      runtime.GOARCH,
		CPUFeatures:   simdFeatures(),
		KernelPath:    kernels.Path(),
		KernelVersion: kernels.Version,
		GOOS:          runtime.GOOS,
		GOARCH:        runtime.GOARCH,
		Threads:       threads,
		GoVersion:     runtime.Version(),
	}
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			if m := parseCPUModel(string(b)); m != "" {
				fp.CPUModel = m
			}
		}
		if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
			fp.OSRelease = strings.TrimSpace(string(b))
		}
	}
	return fp
}

// parseCPUModel reads the CPU model from the text of /proc/cpuinfo: the x86
// "model name", else the arm "Hardware" or "Model" line, else the
// implementer and part numbers of an arm64 core. It returns "" when none is
// present.
func parseCPUModel(cpuinfo string) string {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := fields[k]; !seen && v != "" {
			fields[k] = v // the first core's value
		}
	}
	for _, k := range []string{"model name", "Hardware", "Model"} {
		if v := fields[k]; v != "" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	if impl, part := fields["CPU implementer"], fields["CPU part"]; impl != "" && part != "" {
		return "implementer " + impl + " part " + part
	}
	return ""
}

// simdFeatures lists, sorted, the SIMD features of this CPU among those the
// kernels of nas can use on its architecture.
func simdFeatures() []string {
	var fs []string
	add := func(has bool, name string) {
		if has {
			fs = append(fs, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		add(cpu.X86.HasAVX, "avx")
		add(cpu.X86.HasAVX2, "avx2")
		add(cpu.X86.HasFMA, "fma")
		add(cpu.X86.HasAVX512F, "avx512f")
		add(cpu.X86.HasAVX512BW, "avx512bw")
		add(cpu.X86.HasAVX512DQ, "avx512dq")
		add(cpu.X86.HasAVX512VL, "avx512vl")
	case "arm64":
		add(cpu.ARM64.HasASIMD, "asimd")
		add(cpu.ARM64.HasFPHP, "fphp")
		add(cpu.ARM64.HasASIMDHP, "asimdhp")
		add(cpu.ARM64.HasSVE, "sve")
	}
	slices.Sort(fs)
	return fs
}

// identityFields returns the fields that make up the identity, in a fixed
// order, as name/value pairs. OSRelease is not among them.
func (f Fingerprint) identityFields() [][2]string {
	return [][2]string{
		{"cpu", f.CPUModel},
		{"cpu_features", strings.Join(f.CPUFeatures, ",")},
		{"kernel_path", f.KernelPath},
		{"kernel_version", strconv.Itoa(f.KernelVersion)},
		{"goos", f.GOOS},
		{"goarch", f.GOARCH},
		{"threads", strconv.Itoa(f.Threads)},
		{"go_version", f.GoVersion},
	}
}

// Canonical returns the identity of the fingerprint as one line of
// name=value pairs separated by ";", in a fixed order. Equal fingerprints
// have equal canonical strings.
func (f Fingerprint) Canonical() string {
	var b strings.Builder
	for i, kv := range f.identityFields() {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(kv[1])
	}
	return b.String()
}

// ID returns the stable short name of the fingerprint, "fp-" and the first
// 16 hex digits of the SHA-256 of Canonical. It names the device's bucket in
// a table file and is what --device takes.
func (f Fingerprint) ID() string {
	sum := sha256.Sum256([]byte(f.Canonical()))
	return "fp-" + hex.EncodeToString(sum[:8])
}

// Equal reports whether two fingerprints have the same identity.
func (f Fingerprint) Equal(g Fingerprint) bool { return f.Canonical() == g.Canonical() }

// FieldDiff is one field in which two fingerprints differ.
type FieldDiff struct {
	Field string // as in Canonical: "threads", "cpu", ...
	Table string // the value recorded in the table
	This  string // the value of this run
}

// Diff lists the identity fields in which the table's fingerprint f differs
// from this run's fingerprint g, in the order of Canonical.
func (f Fingerprint) Diff(g Fingerprint) []FieldDiff {
	var ds []FieldDiff
	gf := g.identityFields()
	for i, kv := range f.identityFields() {
		if kv[1] != gf[i][1] {
			ds = append(ds, FieldDiff{Field: kv[0], Table: kv[1], This: gf[i][1]})
		}
	}
	return ds
}

// String describes the fingerprint in one line for people, for example
// "threads=1, kernels avx512 v1, AMD EPYC 9R14, linux/amd64, go1.26.0".
func (f Fingerprint) String() string {
	return fmt.Sprintf("threads=%d, kernels %s v%d, %s, %s/%s, %s", f.Threads, f.KernelPath, f.KernelVersion, f.CPUModel, f.GOOS, f.GOARCH, f.GoVersion)
}

// validate checks that a fingerprint read from a file or given by a caller
// is usable as an identity.
func (f Fingerprint) validate() error {
	switch {
	case f.CPUModel == "":
		return fmt.Errorf("fingerprint: cpu model is empty")
	case f.GOOS == "" || f.GOARCH == "":
		return fmt.Errorf("fingerprint: goos/goarch is empty")
	case f.Threads < 1:
		return fmt.Errorf("fingerprint: threads = %d, want at least 1", f.Threads)
	case f.KernelPath == "":
		return fmt.Errorf("fingerprint: kernel path is empty")
	}
	return nil
}
