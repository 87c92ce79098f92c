// A uPlot time-series chart as a component. uPlot is the vendored IIFE build, loaded by
// index.html as a classic deferred script before the app, so `window.uPlot` is set by now.
// Colours come from the page's CSS variables, so the chart follows the light/dark theme.
import { html, useEffect, useRef, useState } from './html.js';

const PALETTE = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'];

/** 'dark' or 'light', re-rendering when the system theme changes (the chart is redrawn in the
 * new colours). */
function useScheme() {
  const mq = matchMedia('(prefers-color-scheme: dark)');
  const [dark, setDark] = useState(mq.matches);
  useEffect(() => {
    const fn = (e) => setDark(e.matches);
    mq.addEventListener('change', fn);
    return () => mq.removeEventListener('change', fn);
  }, []);
  return dark ? 'dark' : 'light';
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/**
 * `x`: seconds since the epoch; `series`: `[{label, values, color?}]`. `bars` draws bars
 * instead of lines, stacked (the first series on top; the legend shows each one's own value).
 * `testid` names the figure for tests.
 */
export function TimeChart({ testid, caption, x, series, bars = false, height = 220, empty }) {
  const box = useRef(null);
  const plot = useRef(null);
  const scheme = useScheme();
  const allZero = series.every((s) => s.values.every((v) => !v));

  useEffect(() => {
    const el = box.current;
    if (!el || !window.uPlot || allZero) return undefined;
    const fg = cssVar('--muted');
    const grid = cssVar('--grid');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const paths = bars ? window.uPlot.paths.bars({ size: [0.8, 40] }) : undefined;
    // Stacked bars: series i is drawn at the sum of itself and every series after it, the
    // tallest first, so each visible band is one series.
    const drawn = bars
      ? series.map((s, i) => s.values.map((_, j) => series.slice(i).reduce((sum, t) => sum + (t.values[j] || 0), 0)))
      : series.map((s) => s.values);
    const opts = {
      width: Math.max(280, el.clientWidth),
      height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [axis, { ...axis, size: 48 }],
      series: [
        {},
        ...series.map((s, i) => {
          const color = cssVar(s.color || PALETTE[i % PALETTE.length]);
          return {
            label: s.label,
            stroke: color,
            fill: bars ? color + '99' : color + '22',
            width: bars ? 0 : 2,
            paths,
            points: { show: false },
            value: (u, v, si, idx) => (idx == null || s.values[idx] == null ? '—' : String(s.values[idx])),
          };
        }),
      ],
    };
    plot.current = new window.uPlot(opts, [x, ...drawn], el);
    const ro = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: Math.max(280, el.clientWidth), height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current && plot.current.destroy();
      plot.current = null;
    };
  }, [x, series, bars, height, allZero, scheme]);

  return html`<figure class="chart" data-testid=${testid}>
    <figcaption>${caption}</figcaption>
    ${allZero ? html`<p class="empty">${empty || 'Nothing in this period yet.'}</p>` : html`<div class="chart-box" ref=${box} role="img" aria-label=${caption}></div>`}
  </figure>`;
}
