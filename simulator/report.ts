/** Renders an experiment's results (all units, then each unit) as text tables. */

export const RESULTS_QUERY = /* GraphQL */ `
  fragment R on ExperimentResults {
    unitId
    variants { variant weight assignedUsers exposedUsers impressions clicks ctr consumptionPerExposedUser engagedUserRate }
    comparisons { variant control metrics { metric method control treatment pValue significant absoluteLift { estimate low high } relativeLift { estimate low high } } }
    srm { flagged pValue observed expectedShares }
  }
  query ($key: String!) {
    experiment(key: $key) {
      key name status units
      all: results { ...R }
      home: results(unitId: "home") { ...R }
      detail: results(unitId: "detail:more-like-this") { ...R }
    }
  }
`;

const num = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '—' : v.toFixed(digits));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);

function table(r: any): string {
  const lines = [
    `| variant | assigned | exposed | impressions | clicks | CTR | consumption s / exposed user | engaged users |`,
    `|---|---|---|---|---|---|---|---|`,
    ...r.variants.map(
      (v: any) =>
        `| ${v.variant} | ${v.assignedUsers} | ${v.exposedUsers} | ${v.impressions} | ${v.clicks} | ${pct(v.ctr)} | ${num(v.consumptionPerExposedUser, 1)} | ${pct(v.engagedUserRate)} |`,
    ),
    '',
    `| comparison | metric | method | relative lift [95% CI] | absolute lift [95% CI] | p-value |`,
    `|---|---|---|---|---|---|`,
  ];
  for (const c of r.comparisons) {
    for (const m of c.metrics) {
      const rel = m.relativeLift ? `${pct(m.relativeLift.estimate)} [${pct(m.relativeLift.low)}, ${pct(m.relativeLift.high)}]` : '—';
      const abs = m.absoluteLift ? `${num(m.absoluteLift.estimate, 4)} [${num(m.absoluteLift.low, 4)}, ${num(m.absoluteLift.high, 4)}]` : '—';
      lines.push(`| ${c.variant} vs ${c.control} | ${m.metric} | ${m.method} | ${rel} | ${abs} | ${num(m.pValue, 4)}${m.significant ? ' *' : ''} |`);
    }
  }
  lines.push('', `SRM: ${r.srm.flagged ? 'FLAGGED' : 'ok'} (p = ${num(r.srm.pValue, 4)}, assigned ${r.srm.observed.join(' / ')} vs weights ${r.srm.expectedShares.join(' / ')})`);
  return lines.join('\n');
}

export function formatResults(e: any): string {
  if (!e) return 'experiment not found';
  const parts = [`\nExperiment ${e.key} (${e.status}): ${e.name}`, '', '## All units', table(e.all)];
  if (e.units.includes('home')) parts.push('', '## Unit: home', table(e.home));
  if (e.units.includes('detail:more-like-this')) parts.push('', '## Unit: detail:more-like-this', table(e.detail));
  parts.push('', '* p < 0.05. Simulated users: the figures show the platform measuring an effect, not a real-world result.');
  return parts.join('\n');
}
