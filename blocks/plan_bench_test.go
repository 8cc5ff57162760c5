package blocks

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// mobileNetV2Graph is MobileNetV2 (width 1, 1000 classes) at 3xhxw, built
// here because the zoo (package space) imports this package.
func mobileNetV2Graph(h, w int) *Graph {
	b := NewBuilder(Shape{3, h, w})
	x := b.ConvBNAct("stem", b.g.Input, 32, 3, 2, 1, ActReLU6)
	in := 32
	for i, st := range [][4]int{{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}} {
		t, c, n, s := st[0], st[1], st[2], st[3]
		for j := range n {
			name := fmt.Sprintf("s%d.%d", i, j)
			stride := 1
			if j == 0 {
				stride = s
			}
			y := x
			if t != 1 {
				y = b.ConvBNAct(name+".exp", y, in*t, 1, 1, 1, ActReLU6)
			}
			y = b.ConvBNAct(name+".dw", y, in*t, 3, stride, in*t, ActReLU6)
			y = b.ConvBNAct(name+".proj", y, c, 1, 1, 1, ActNone)
			if stride == 1 && in == c {
				y = b.Add(x, y)
			}
			x, in = y, c
		}
	}
	x = b.ConvBNAct("head", x, 1280, 1, 1, 1, ActReLU6)
	b.Linear("fc", b.GAP(x), 1000, true)
	return b.Graph()
}

// BenchmarkPlanLocality runs MobileNetV2 at batch 1 on the benchmark's
// GOMAXPROCS threads (-cpu 2) with the splits that keep data on the core
// that wrote it (localitySplits) and without, alternating run by run; it
// reports the median ratio of the two runs' times and each plan's median.
func BenchmarkPlanLocality(b *testing.B) {
	threads := runtime.GOMAXPROCS(0)
	if threads < 2 {
		b.Skip("needs -cpu 2 or more")
	}
	for _, size := range []int{224, 112} {
		b.Run(fmt.Sprintf("mobilenet_v2_%d", size), func(b *testing.B) {
			n, err := NewNetwork(mobileNetV2Graph(size, size), rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { localitySplits = true }()
			var plans [2]*Plan
			for i, local := range []bool{false, true} {
				localitySplits = local
				if plans[i], err = NewPlan(n, 1, threads); err != nil {
					b.Fatal(err)
				}
				defer plans[i].Close()
			}
			x := make([]float32, plans[0].InputLen())
			for i := range x {
				x[i] = float32(i%13) - 6
			}
			var ratios []float64
			var times [2][]float64
			for b.Loop() {
				var d [2]float64
				for i, p := range plans {
					t0 := time.Now()
					if _, err := p.Run(x); err != nil {
						b.Fatal(err)
					}
					d[i] = float64(time.Since(t0).Nanoseconds())
					times[i] = append(times[i], d[i]/1e6)
				}
				ratios = append(ratios, d[1]/d[0])
			}
			med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
			b.ReportMetric(med(ratios), "local/plain")
			b.ReportMetric(med(times[0]), "plain-ms")
			b.ReportMetric(med(times[1]), "local-ms")
		})
	}
}
