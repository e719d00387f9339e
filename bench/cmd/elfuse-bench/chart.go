//go:build linux

package main

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartFloor is the smallest ratio the chart shows; bars grow up from it on a log scale, so a
// ratio of 1 (as fast as native) is a bar of one decade.
const chartFloor = 0.1

// writeChart draws each runner's ratio to native per workload as grouped bars on a log scale and
// saves the PNG at path. Rows that did not run leave a gap; the pull rows, whose ratios are to a
// peer rather than to native, are left out.
func writeChart(rep *Report, path string) error {
	var names []string
	seenW := map[string]bool{}
	var runners []string
	seenR := map[string]bool{}
	ratio := map[[2]string]float64{}
	top := 1.0
	for _, r := range rep.Rows {
		if r.RatioTo != "" {
			continue // the pull rows have no native to compare with
		}
		if !seenW[r.Workload] {
			seenW[r.Workload] = true
			names = append(names, r.Workload)
		}
		if r.Runner == "native" || r.Status != "ok" || r.Ratio <= 0 {
			continue
		}
		if !seenR[r.Runner] {
			seenR[r.Runner] = true
			runners = append(runners, r.Runner)
		}
		ratio[[2]string{r.Workload, r.Runner}] = r.Ratio
		top = math.Max(top, r.Ratio)
	}
	if len(names) == 0 {
		return nil // only pull rows: nothing to draw relative to native
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("elfuse bench: time relative to native (log scale), %s", rep.Date.Format("2006-01-02"))
	p.Y.Label.Text = "ratio to native (lower is better)"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	width := vg.Points(math.Max(4, 60/float64(max(len(runners), 1))))
	for i, rn := range runners {
		vals := make(plotter.Values, len(names))
		for j, w := range names {
			if v, ok := ratio[[2]string{w, rn}]; ok {
				vals[j] = math.Log10(math.Max(v, chartFloor) / chartFloor)
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return fmt.Errorf("chart bars for %s: %w", rn, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = width * vg.Length(float64(i)-float64(len(runners)-1)/2)
		p.Add(bars)
		p.Legend.Add(rn, bars)
	}
	p.NominalX(names...)
	decades := math.Ceil(math.Log10(top / chartFloor))
	p.Y.Min, p.Y.Max = 0, decades+0.3
	var ticks []plot.Tick
	for d := 0.0; d <= decades; d++ {
		ticks = append(ticks, plot.Tick{Value: d, Label: fmt.Sprintf("%gx", chartFloor*math.Pow(10, d))})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	w := vg.Length(math.Max(8, 1.2*float64(len(names)))) * vg.Inch
	if err := p.Save(w, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("save chart %s: %w", path, err)
	}
	return nil
}
