/**
 * npm run bench — every benchmark in turn, each exactly as `npm run bench:<name>` runs it alone,
 * with `--report` so its figures come back as JSON. Progress goes to the terminal; at the end
 * BENCHMARKS.md (the machine, a headline table, each benchmark's own tables) and BENCHMARKS.json
 * (every figure) are written at the repository root. A failed step is recorded and the rest run.
 *
 * BENCH_ONLY=freshness,gateway runs a subset (the files then hold only those steps).
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem, type as osType } from 'node:os';
import { join } from 'node:path';
import { headlines } from './lib/headlines.js';

const root = new URL('..', import.meta.url).pathname;
const SOAK_MD = join(root, 'bench/results/soak.md');
const SOAK_JSON = join(root, 'bench/results/soak.json');
const MOVIELENS = process.env['MOVIELENS_DIR'] ?? join(root, '../shared/data/ml-latest-small');

interface Step {
  name: string;
  script: string;
  what: string;
  /** Why it cannot run here, if it cannot. */
  unavailable?: () => string | undefined;
}

const STEPS: Step[] = [
  { name: 'recs', script: 'bench:recs', what: 'ranking latency: in process and at the recommendations subgraph' },
  { name: 'ingest', script: 'bench:ingest', what: 'ingestion throughput and ingest → applied latency on Redis' },
  { name: 'codec', script: 'bench:codec', what: 'bytes and encode + decode time of a stored profile: MessagePack records against JSON, at the size bounds and typical' },
  { name: 'scaling', script: 'bench:scaling', what: 'the capacity model of docs/SCALING.md checked on this machine: bench:ingest with 1 and 2 profile updater processes, predicted from the 1-updater costs per event' },
  { name: 'takeover', script: 'bench:takeover', what: 'a profile updater killed with SIGKILL: kill → its entries applied by a live one, on Redis' },
  { name: 'live', script: 'bench:live', what: 'live updates through the gateway per transport (graphql-ws, SSE, multipart): 1,000 subscriptions at 500 events/s each' },
  { name: 'fanout', script: 'bench:fanout', what: 'live fan-out through the gateway: 10,000 subscriptions (1,000 users × 10 devices, then 10,000 users) at 1,000 events/s, every event at every subscriber, latency, heap per subscription' },
  { name: 'freshness', script: 'bench:freshness', what: 'event → re-ranked row through the gateway, embedded and on Redis' },
  {
    name: 'audiences',
    script: 'bench:audiences',
    what: '100 live audiences under background load, embedded and on Redis: event → membership (query, subscription), time-driven exits, backfill, updater throughput, bytes per membership',
  },
  { name: 'gateway', script: 'bench:gateway', what: 'home-page query: our gateway against Hive Gateway, and the subgraphs directly' },
  { name: 'experiments', script: 'bench:experiments', what: 'statistical validity of experiment analysis, seeded simulations: A/A peeking, interval coverage, CUPED, SRM' },
  {
    name: 'replay',
    script: 'bench:replay',
    what: 'offline replay of MovieLens ml-latest-small: HR@10 / NDCG@10 per model',
    unavailable: () => (existsSync(MOVIELENS) ? undefined : `MovieLens data not found at ${MOVIELENS}`),
  },
];

interface StepResult {
  name: string;
  script: string;
  ok: boolean;
  seconds: number;
  error?: string;
  /** The benchmark's own markdown output. */
  markdown: string;
  figures?: unknown;
}

function run(step: Step, reportFile: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', step.script, '--', '--report', reportFile], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

function command(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machine() {
  const cpu = cpus();
  const redis = command('redis-cli', ['-u', process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', 'INFO', 'server']);
  return {
    cpu: `${cpu[0]?.model ?? 'unknown'} × ${cpu.length}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${osType()} ${release()}`,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(redis ?? '')?.[1] ?? 'not reachable',
    loadAverageAtStart: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

async function main() {
  const only = process.env['BENCH_ONLY']?.split(',').map((s) => s.trim());
  const steps = STEPS.filter((s) => !only || only.includes(s.name));
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const startedAt = new Date();
  const host = machine();
  const commit = command('git', ['-C', root, 'rev-parse', '--short', 'HEAD']) ?? 'unknown';
  const dirty = (command('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  const results: StepResult[] = [];
  const wall = performance.now();
  for (const [i, step] of steps.entries()) {
    const banner = `[${i + 1}/${steps.length}] npm run ${step.script}: ${step.what}`;
    const unavailable = step.unavailable?.();
    if (unavailable) {
      console.error(`\n${banner}\n  skipped: ${unavailable}`);
      results.push({ name: step.name, script: step.script, ok: false, seconds: 0, error: `skipped: ${unavailable}`, markdown: '' });
      continue;
    }
    console.error(`\n${banner} (${Math.round((performance.now() - wall) / 1000)} s elapsed)`);
    const reportFile = join(dir, `${step.name}.json`);
    const t = performance.now();
    const { code, stdout } = await run(step, reportFile);
    const seconds = (performance.now() - t) / 1000;
    const figures = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as unknown) : undefined;
    const ok = code === 0 && figures !== undefined;
    results.push({ name: step.name, script: step.script, ok, seconds, markdown: stdout.trim(), figures, ...(ok ? {} : { error: `exit code ${code}${figures ? '' : ', no figures written'}` }) });
    console.error(`  ${ok ? 'done' : 'FAILED'} in ${seconds.toFixed(0)} s`);
  }
  const totalSeconds = (performance.now() - wall) / 1000;

  const figuresByName = Object.fromEntries(results.filter((r) => r.figures).map((r) => [r.name, r.figures]));
  writeFileSync(
    join(root, 'BENCHMARKS.json'),
    `${JSON.stringify({ startedAt: startedAt.toISOString(), totalSeconds, commit: `${commit}${dirty ? '+changes' : ''}`, machine: host, steps: results.map(({ markdown: _m, ...r }) => r) }, null, 2)}\n`,
  );

  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push(
    `Written by \`npm run bench\` on ${startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC at commit \`${commit}\`${dirty ? ' (with uncommitted changes)' : ''} in ${(totalSeconds / 60).toFixed(1)} min. Every figure below comes from that run; all of them are also in [BENCHMARKS.json](BENCHMARKS.json). Each benchmark also runs alone: \`npm run bench:<name>\`.`,
    '',
  );
  lines.push('## Machine', '');
  lines.push('| | |', '|---|---|');
  lines.push(`| CPU | ${host.cpu} |`, `| memory | ${host.memoryGiB} GiB |`, `| OS | ${host.os} |`, `| Node.js | ${host.node} |`, `| Redis | ${host.redis} |`);
  lines.push(`| load average at start | ${host.loadAverageAtStart} |`, '');
  lines.push('Load generators, gateways, subgraphs and Redis share these cores, so absolute figures are modest and noisy; the ratios compare peers measured in the same run.', '');
  lines.push('## Headlines', '');
  lines.push('| figure | value | goal |', '|---|---|---|');
  const soak = existsSync(SOAK_JSON) ? (JSON.parse(readFileSync(SOAK_JSON, 'utf8')) as unknown) : undefined;
  for (const h of headlines({ ...figuresByName, ...(soak ? { soak } : {}) })) lines.push(`| ${h.figure} | ${h.value} | ${h.goal ?? ''} |`);
  lines.push('');
  for (const r of results) {
    const step = STEPS.find((s) => s.name === r.name)!;
    lines.push(`## ${r.script}`, '', `${step.what[0]!.toUpperCase()}${step.what.slice(1)}. ${r.ok ? `${r.seconds.toFixed(0)} s.` : `**${r.error}**`}`, '');
    if (r.markdown) lines.push(r.markdown, '');
  }
  // The soak takes its own ten minutes and more: not run here, its last saved run quoted.
  if (existsSync(SOAK_MD)) {
    lines.push('## bench:soak (its own run)', '', 'Not part of `npm run bench` (it runs for SOAK_DURATION, 10 min by default): the last `npm run bench:soak`, from bench/results/soak.md.', '');
    lines.push(readFileSync(SOAK_MD, 'utf8').trim(), '');
  }
  writeFileSync(join(root, 'BENCHMARKS.md'), `${lines.join('\n').trimEnd()}\n`);
  console.error(`\nwrote BENCHMARKS.md and BENCHMARKS.json (${(totalSeconds / 60).toFixed(1)} min)`);
  if (results.some((r) => !r.ok && !r.error?.startsWith('skipped'))) process.exitCode = 1;
}

await main();
