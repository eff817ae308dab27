/**
 * npm run replay -- --data DIR [--format ml-latest|ml-100k] [--k 10] [--batch-every 24h]
 *                   [--threshold 4] [--limit N] [--json] [--report FILE]
 * Replays a MovieLens log through the services' reducer and rankers and reports HR@K, NDCG@K,
 * coverage and users evaluated for POPULARITY, BASELINE (batch profile) and REALTIME.
 */
import { saveReport } from '../bench/lib/report.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { definitionProblems } from '../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition } from '../lib/contracts/computed-traits.js';
import { parseDuration } from '../lib/env.js';
import { DEFAULT_REDUCER_CONFIG, DAY_MS } from '../subgraphs/profile/src/domain/config.js';
import { detectFormat, readMovies, readRatings } from '../subgraphs/recommendations/src/catalog/movielens.js';
import type { MovieLensFormat } from '../subgraphs/recommendations/src/catalog/movielens.js';
import { replay } from './evaluate.js';
import type { ReplayReport } from './evaluate.js';

function fail(message: string): never {
  console.error(`replay: ${message}`);
  process.exit(2);
}

function formatReport(report: ReplayReport, seconds: number): string {
  const k = report.k;
  const lines = [
    `MovieLens replay: ${report.ratings.toLocaleString('en-US')} ratings, ${report.users} users, ${report.catalogSize.toLocaleString('en-US')} items, ${seconds.toFixed(1)} s`,
    '',
    `| model | HR@${k} | NDCG@${k} | coverage | users evaluated | evaluations |`,
    '|---|---|---|---|---|---|',
    ...Object.values(report.models).map(
      (m) =>
        `| ${m.model} | ${m.hitRate.toFixed(4)} | ${m.ndcg.toFixed(4)} | ${(m.coverage * 100).toFixed(1)}% | ${m.usersEvaluated} | ${m.evaluations.toLocaleString('en-US')} |`,
    ),
  ];
  if (report.ratio) {
    lines.push('', `REALTIME / BASELINE: HR@${k} ${report.ratio.hitRate.toFixed(2)}x, NDCG@${k} ${report.ratio.ndcg.toFixed(2)}x`);
  }
  return lines.join('\n');
}

/** Definitions in the contract's shape (lib/contracts/computed-traits.ts), refused with the field at fault. */
function readTraitDefinitions(path: string): ComputedTraitDefinition[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`--computed-traits: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw)) fail('--computed-traits must hold a JSON list of definitions');
  (raw as unknown[]).forEach((d, i) => {
    const problems = definitionProblems(d);
    if (problems.length > 0) fail(`--computed-traits [${i}]: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  });
  return raw as ComputedTraitDefinition[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      report: { type: 'string' },
      format: { type: 'string' },
      k: { type: 'string', default: '10' },
      'batch-every': { type: 'string', default: '24h' },
      threshold: { type: 'string', default: '4' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      'computed-traits': { type: 'string' },
    },
  });
  if (!values.data) fail('--data DIR is required (a MovieLens ml-latest or ml-100k directory)');
  const format = (values.format ?? detectFormat(values.data)) as MovieLensFormat;
  if (format !== 'ml-latest' && format !== 'ml-100k') fail('--format must be ml-latest or ml-100k');
  const k = Number(values.k);
  if (!Number.isInteger(k) || k < 1 || k > 100) fail('--k must be an integer from 1 to 100');
  const batchEveryMs = parseDuration(values['batch-every']);
  if (!batchEveryMs) fail('--batch-every must be a duration such as 24h or 7d');
  const threshold = Number(values.threshold);
  if (!(threshold > 0 && threshold <= 5)) fail('--threshold must be a rating between 0.5 and 5');

  // The same computed-trait definitions the profile service folds (a JSON list, as defineComputedTrait takes them).
  const computedTraits = values['computed-traits'] ? readTraitDefinitions(values['computed-traits']) : [];

  const started = Date.now();
  const catalog = readMovies(values.data, format);
  let ratings = readRatings(values.data, format);
  if (values.limit) ratings = ratings.slice(0, Number(values.limit));
  const tty = process.stderr.isTTY && !values.json;
  const report = replay(catalog, ratings, {
    k,
    batchEveryMs,
    positiveThreshold: threshold,
    reducer: { ...DEFAULT_REDUCER_CONFIG, computedTraits },
    trendingHalfLifeMs: 7 * DAY_MS,
    // Popularity and trending orderings (shared by every model) are rebuilt every 6 h of event time.
    orderingRefreshMs: 6 * 3_600_000,
    models: ['POPULARITY', 'BASELINE', 'REALTIME'],
    onProgress: (done, total) => {
      if (tty) process.stderr.write(`\rreplaying ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} ratings (${Math.round((100 * done) / total)}%)`);
    },
  });
  if (tty) process.stderr.write('\n');
  const seconds = (Date.now() - started) / 1000;
  const figures = { ...report, format, batchEveryMs, threshold, seconds };
  saveReport(figures);
  if (values.json) console.log(JSON.stringify(figures));
  else console.log(formatReport(report, seconds));
}

await main();
