/**
 * npm run bench:scaling — the check of docs/SCALING.md's capacity model on this machine: the
 * ingest pipeline (bench:ingest, on Redis) with 1 and then 2 profile updater processes. From the
 * 1-updater run's cost per event (CPU ms of the ingest process, of the updaters and of Redis, and
 * of the load generator) the model predicts the end-to-end events/s of both runs as the lowest of
 *   updater processes × 1,000 ÷ updater CPU ms per event (a Node process uses about one core),
 *   1,000 ÷ ingest CPU ms per event (one ingest process), 1,000 ÷ Redis CPU ms per event (one
 *   Redis thread), and cores × 1,000 ÷ the sum of every process's CPU ms per event (the machine);
 * then prints prediction, measurement and their ratio, and which limit the model names.
 * Environment: SCALING_CORES (default: this machine's), BENCH_DURATION for each run (default 10 s).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveReport } from './lib/report.js';

const root = new URL('..', import.meta.url).pathname;
const CORES = Number(process.env['SCALING_CORES'] ?? availableParallelism());
const log = (m: string) => console.error(m);

interface IngestReport {
  updaters: number;
  endToEndEventsPerSecond: number;
  ingestEventsPerSecond: number;
  perEvent: { ingestCpuMs: number; updaterCpuMs: number; redisCpuMs: number; redisCommands: number; redisBytes: number; loadGeneratorCpuMs: number };
}

function ingestRun(updaters: number, dir: string): Promise<IngestReport> {
  const file = join(dir, `ingest-${updaters}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', './scripts/ts/register.mjs', 'bench/ingest.ts', '--report', file], { cwd: root, env: { ...process.env, BENCH_UPDATERS: String(updaters), BENCH_STEADY_SHARES: '' }, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(readFileSync(file, 'utf8')) as IngestReport) : reject(new Error(`bench:ingest with ${updaters} updaters exited with ${code}`))));
  });
}

/** The model: the lowest of the limits, from one run's costs per event. */
function predict(costs: IngestReport['perEvent'], updaters: number) {
  const limits = {
    [`${updaters} updater process${updaters === 1 ? '' : 'es'}`]: (updaters * 1000) / costs.updaterCpuMs,
    'the ingest process': 1000 / costs.ingestCpuMs,
    'the Redis thread': 1000 / costs.redisCpuMs,
    [`${CORES} cores`]: (CORES * 1000) / (costs.ingestCpuMs + costs.updaterCpuMs + costs.redisCpuMs + costs.loadGeneratorCpuMs),
  };
  const [bound, eventsPerSecond] = Object.entries(limits).sort(([, a], [, b]) => a - b)[0]!;
  return { eventsPerSecond, bound, limits };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-scaling-'));
  log('bench:ingest with 1 updater process...');
  const one = await ingestRun(1, dir);
  log('bench:ingest with 2 updater processes...');
  const two = await ingestRun(2, dir);
  const runs = [one, two].map((r) => {
    const p = predict(one.perEvent, r.updaters);
    return { updaters: r.updaters, measured: r.endToEndEventsPerSecond, predicted: p.eventsPerSecond, ratio: p.eventsPerSecond / r.endToEndEventsPerSecond, bound: p.bound, limits: p.limits, perEvent: r.perEvent };
  });
  const report = { cores: CORES, runs };
  saveReport(report);
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  const c = one.perEvent;
  console.log(
    `Capacity model check (docs/SCALING.md): bench:ingest on Redis with 1 and 2 profile updater processes on ${CORES} cores. Costs per event from the 1-updater run: CPU ${c.ingestCpuMs.toFixed(3)} ms ingest, ${c.updaterCpuMs.toFixed(3)} ms updater, ${c.redisCpuMs.toFixed(3)} ms Redis, ${c.loadGeneratorCpuMs.toFixed(3)} ms load generator; ${c.redisCommands.toFixed(2)} Redis commands, ${f(c.redisBytes)} B of Redis traffic.`,
  );
  console.log('');
  console.log('| updater processes | measured end to end | predicted | predicted ÷ measured | the limit the model names | the other limits |');
  console.log('|---|---|---|---|---|---|');
  for (const r of runs) {
    const others = Object.entries(r.limits)
      .filter(([k]) => k !== r.bound)
      .map(([k, v]) => `${k} ${f(v)}`)
      .join(', ');
    console.log(`| ${r.updaters} | ${f(r.measured)} events/s | ${f(r.predicted)} events/s | ${r.ratio.toFixed(2)} | ${r.bound} | ${others} |`);
  }
}

await main();
