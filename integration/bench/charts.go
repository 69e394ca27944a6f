package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colWorst  = color.NRGBA{R: 200, G: 60, B: 30, A: 255}
	colMedian = color.NRGBA{R: 40, G: 90, B: 180, A: 255}
	colOp     = color.NRGBA{R: 250, G: 200, B: 60, A: 90}
	colFail   = color.NRGBA{R: 220, A: 255}
	colClosed = color.NRGBA{R: 90, G: 120, B: 200, A: 255}
	colOpen   = color.NRGBA{R: 230, G: 140, B: 40, A: 255}
)

// writeCharts draws latency-<loop>.png (latency over time, one panel per
// scenario, operations shaded) and failed-per-op.png.
func writeCharts(res *results, dir string) error {
	for _, loop := range []string{"closed", "open"} {
		var ms []*measurement
		for i := range res.ms {
			if res.ms[i].loop == loop && len(res.ms[i].series) > 0 {
				ms = append(ms, &res.ms[i])
			}
		}
		if len(ms) == 0 {
			continue
		}
		if err := latencyChart(ms, loop, filepath.Join(dir, "latency-"+loop+".png")); err != nil {
			return err
		}
	}
	return failedChart(res, filepath.Join(dir, "failed-per-op.png"))
}

const yFloor = 0.3 // ms: the log scale's bottom

func latencyChart(ms []*measurement, loop, path string) error {
	cols := 3
	rows := (len(ms) + cols - 1) / cols
	top := 1.0
	for _, m := range ms {
		top = max(top, float64(m.load.MaxLatency)/float64(time.Millisecond))
	}
	top *= 2
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	for i, m := range ms {
		p := plot.New()
		p.Title.Text = m.name()
		p.Title.TextStyle.Font.Size = vg.Points(9)
		p.X.Label.Text = "s"
		p.Y.Label.Text = "latency, ms"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = yFloor, top
		p.X.Min = 0
		for _, o := range m.ops {
			a, b := o.Start.Seconds(), o.End.Seconds()
			poly, err := plotter.NewPolygon(plotter.XYs{{X: a, Y: yFloor}, {X: b, Y: yFloor}, {X: b, Y: top}, {X: a, Y: top}})
			if err != nil {
				return fmt.Errorf("chart: %w", err)
			}
			poly.Color = colOp
			poly.LineStyle.Width = 0
			p.Add(poly)
		}
		// One line per run of bins with answers: no line across a gap.
		var worst, med []plotter.XYs
		var fails plotter.XYs
		gap := true
		for _, b := range m.series {
			x := b.at.Seconds()
			if b.max > 0 {
				if gap {
					worst, med = append(worst, nil), append(med, nil)
					gap = false
				}
				worst[len(worst)-1] = append(worst[len(worst)-1], plotter.XY{X: x, Y: max(float64(b.max)/1e6, yFloor)})
				med[len(med)-1] = append(med[len(med)-1], plotter.XY{X: x, Y: max(float64(b.p50Like)/1e6, yFloor)})
			} else {
				gap = true
			}
			if b.failed > 0 {
				fails = append(fails, plotter.XY{X: x, Y: top / 1.5})
			}
		}
		for _, l := range []struct {
			runs []plotter.XYs
			col  color.Color
		}{{med, colMedian}, {worst, colWorst}} {
			for _, xy := range l.runs {
				if len(xy) == 1 && len(m.series) > 1 { // a lone point still shows
					xy = append(xy, plotter.XY{X: xy[0].X + m.series[1].at.Seconds() - m.series[0].at.Seconds(), Y: xy[0].Y})
				}
				line, err := plotter.NewLine(xy)
				if err != nil {
					return fmt.Errorf("chart: %w", err)
				}
				line.Color = l.col
				line.Width = vg.Points(0.8)
				p.Add(line)
			}
		}
		if len(fails) > 0 {
			sc, err := plotter.NewScatter(fails)
			if err != nil {
				return fmt.Errorf("chart: %w", err)
			}
			sc.GlyphStyle.Color = colFail
			sc.GlyphStyle.Shape = draw.CrossGlyph{}
			sc.GlyphStyle.Radius = vg.Points(2)
			p.Add(sc)
		}
		plots[i/cols][i%cols] = p
	}
	// Empty tiles still need a plot for Align.
	for r := range plots {
		for c := range plots[r] {
			if plots[r][c] == nil {
				e := plot.New()
				e.HideAxes()
				plots[r][c] = e
			}
		}
	}
	w, h := vg.Points(float64(cols)*300), vg.Points(float64(rows)*200+40)
	img := vgimg.New(w, h)
	dc := draw.New(img)
	title := fmt.Sprintf("Latency over time, %s loop: worst (red) and median (blue) per %d-th of the run; operations shaded; x: a bin with failed requests", loop, chartBins)
	dc.FillString(plot.DefaultTextHandler.Cache().Lookup(plot.DefaultFont, vg.Points(11)), vg.Point{X: vg.Points(10), Y: h - vg.Points(20)}, title)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadTop: vg.Points(30), PadX: vg.Points(10), PadY: vg.Points(10), PadLeft: vg.Points(5), PadRight: vg.Points(10), PadBottom: vg.Points(5)}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c := range plots[r] {
			plots[r][c].Draw(canvases[r][c])
		}
	}
	return savePNG(img, path)
}

func failedChart(res *results, path string) error {
	var names []string
	index := map[string]int{}
	for _, m := range res.ms {
		if m.op == "" {
			continue
		}
		if _, ok := index[m.name()]; !ok {
			index[m.name()] = len(names)
			names = append(names, m.name())
		}
	}
	if len(names) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "Failed requests per operation (same app, same load)"
	p.X.Label.Text = "failed requests per restart or reload"
	w := vg.Points(7)
	for j, loop := range []string{"closed", "open"} {
		vals := make(plotter.Values, len(names))
		any := false
		for _, m := range res.ms {
			if m.loop == loop && m.op != "" && len(m.ops) > 0 {
				vals[index[m.name()]] = float64(m.load.Failed) / float64(len(m.ops))
				any = true
			}
		}
		if !any {
			continue
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		bars.Horizontal = true
		bars.Color = []color.Color{colClosed, colOpen}[j]
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(j)-0.5) * w
		p.Add(bars)
		p.Legend.Add(loop+" loop", bars)
	}
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Points(10)
	p.NominalY(names...)
	img := vgimg.New(vg.Points(720), vg.Points(float64(len(names))*28+80))
	p.Draw(draw.New(img))
	return savePNG(img, path)
}

func savePNG(img *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return f.Close()
}
