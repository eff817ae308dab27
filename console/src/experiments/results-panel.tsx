/** Results as a reader wants them: the analysis flags, SRM, exposure, lifts per unit and per slot, planning. */
import { ForestPlot, liftRows } from './forest-plot';
import type { MetricLift, Results } from './queries';

const pct = (v: number | null | undefined, digits = 1) => (v == null ? '—' : `${(v * 100).toFixed(digits)}%`);
const num = (v: number | null | undefined, digits = 2) => (v == null ? '—' : v.toFixed(digits));

function Flags({ results }: { results: Results }) {
  const a = results.analysis;
  return (
    <ul className="flags" aria-label="Analysis">
      <li>engine <strong>{a.engine}</strong></li>
      <li>sequential <strong>{a.sequential ? 'on' : 'off'}</strong></li>
      <li>CUPED <strong>{a.cuped ? 'on' : 'off'}</strong></li>
      <li>correction <strong>{a.correction}</strong></li>
      <li>α <strong>{a.alpha}</strong></li>
      <li className={results.srm.flagged ? 'srm flagged' : 'srm'}>
        SRM <strong>{results.srm.flagged ? 'FLAGGED: do not trust these results' : 'ok'}</strong> (p = {num(results.srm.pValue, 4)}; observed {results.srm.observed.join(' / ')})
      </li>
    </ul>
  );
}

function LiftTable({ caption, metrics }: { caption: string; metrics: Array<MetricLift & { variant: string }> }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead><tr><th scope="col">metric</th><th scope="col">variant</th><th scope="col">lift [interval]</th><th scope="col">p / chance to win</th><th scope="col">CUPED</th><th scope="col">verdict</th></tr></thead>
      <tbody>
        {metrics.map((m) => (
          <tr key={`${m.variant}-${m.metric}`}>
            <th scope="row">{m.metric}{m.guardrail ? ' (guardrail)' : ''}</th>
            <td>{m.variant}</td>
            <td>{m.relativeLift ? `${pct(m.relativeLift.estimate)} [${pct(m.relativeLift.low)}, ${pct(m.relativeLift.high)}]` : (m.note ?? '—')}</td>
            <td>{m.engine === 'BAYESIAN' ? pct(m.chanceToWin) : num(m.pValue, 4)}</td>
            <td>{m.cuped.applied ? `−${pct(m.cuped.varianceReduction)} var.` : 'not applied'}</td>
            <td><span className={`verdict verdict-${m.verdict}`}>{m.verdict}</span></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ResultsPanel({ results }: { results: Results }) {
  const unitLabel = results.unitId ?? 'all units';
  const slotRows = results.slots.flatMap((s) => liftRows(s.comparisons, `slot ${s.position} · `));
  return (
    <div className="results">
      <Flags results={results} />
      <table>
        <caption>Exposure ({unitLabel})</caption>
        <thead><tr><th scope="col">variant</th><th scope="col">weight</th><th scope="col">assigned</th><th scope="col">exposed</th><th scope="col">impressions</th><th scope="col">clicks</th><th scope="col">CTR</th></tr></thead>
        <tbody>
          {results.variants.map((v) => (
            <tr key={v.variant}><th scope="row">{v.variant}</th><td>{pct(v.weight, 0)}</td><td>{v.assignedUsers}</td><td>{v.exposedUsers}</td><td>{v.impressions}</td><td>{v.clicks}</td><td>{pct(v.ctr)}</td></tr>
          ))}
        </tbody>
      </table>
      <ForestPlot title={`Relative lift per metric, ${unitLabel}`} rows={liftRows(results.comparisons)} />
      <LiftTable caption={`Lifts, ${unitLabel}`} metrics={results.comparisons.flatMap((c) => c.metrics.map((m) => ({ ...m, variant: c.variant })))} />
      <ForestPlot title="Relative lift per slot" rows={slotRows} />
      <table>
        <caption>Planning (80% power)</caption>
        <thead><tr><th scope="col">metric</th><th scope="col">detectable now</th><th scope="col">target</th><th scope="col">users needed / variant</th><th scope="col">days still needed</th><th scope="col">exposed / day</th></tr></thead>
        <tbody>
          {results.planning.map((p) => (
            <tr key={p.metric}><th scope="row">{p.metric}</th><td>{pct(p.minimumDetectableEffect)}</td><td>{pct(p.targetEffect)}</td><td>{p.usersNeededPerVariant ?? '—'}</td><td>{num(p.daysNeeded, 1)}</td><td>{num(p.exposedUsersPerDay, 1)}</td></tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
