/**
 * A forest plot: each metric's relative lift as a dot with its interval as a line, against a rule
 * at zero; significant lifts are drawn in colour. A table beside it gives the same numbers.
 */
import * as Plot from '@observablehq/plot';
import { PlotFigure } from '../ui/plot';
import type { Comparison } from './queries';

export interface LiftRow {
  label: string;
  estimate: number;
  low: number;
  high: number;
  significant: boolean;
}

export function liftRows(comparisons: Comparison[], prefix = ''): LiftRow[] {
  return comparisons.flatMap((c) =>
    c.metrics.flatMap((m) =>
      m.relativeLift ? [{ label: `${prefix}${m.metric}${comparisons.length > 1 ? ` (${c.variant})` : ''}`, ...m.relativeLift, significant: m.significant }] : [],
    ),
  );
}

const percent = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)}%`;

export function ForestPlot({ rows, title }: { rows: LiftRow[]; title: string }) {
  if (rows.length === 0) return <p className="empty">No lift to draw yet: each arm needs unit events from at least two users.</p>;
  const label = `${title}: ${rows.map((r) => `${r.label} ${percent(r.estimate)} [${percent(r.low)}, ${percent(r.high)}]`).join('; ')}`;
  return (
    <figure className="forest" data-testid="forest-plot">
      <figcaption>{title}</figcaption>
      <PlotFigure
        label={label}
        deps={[JSON.stringify(rows)]}
        render={() =>
          Plot.plot({
            width: 640,
            height: 40 + rows.length * 28,
            marginLeft: 220,
            x: { label: 'relative lift (interval)', tickFormat: (v: number) => percent(v), grid: true },
            y: { label: null, domain: rows.map((r) => r.label) },
            color: { domain: [false, true], range: ['#6b7280', '#0f766e'] },
            marks: [
              Plot.ruleX([0], { stroke: '#111827' }),
              Plot.link(rows, { y1: 'label', y2: 'label', x1: 'low', x2: 'high', stroke: 'significant', strokeWidth: 2 }),
              Plot.dot(rows, { y: 'label', x: 'estimate', fill: 'significant', r: 5 }),
            ],
          })
        }
      />
    </figure>
  );
}
