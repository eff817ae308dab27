/**
 * npm run bench:experiments — is the experiment analysis engine (subgraphs/experiments, GrowthBook's
 * gbstats reimplemented) statistically valid? Seeded Monte Carlo simulations, every run analysed
 * with `analyze()` from sufficient statistics (n, Σx, Σx², and the CUPED covariate sums):
 *
 *   1. A/A peeking: no true effect, users arrive every day for DAYS (30) days, 400–2,000 a day
 *      assigned by coin flip (≈ 200–1,000 per arm), per-user "minutes watched" drawn from a
 *      zero-inflated lognormal (35 % zero, else e^N(2.5, 1)). The arms' sums are accumulated day by
 *      day and analysed after every day; the figure is the share of runs that EVER show p < 0.05 on
 *      the relative lift: fixed-horizon t-test (inflated by peeking, as expected) against the
 *      sequential test tuned to the expected final sample size and at gbstats' default tuning 5,000.
 *      The same runs give the Bayesian engine's calibration: with gbstats' default flat prior chance
 *      to win is Φ(estimate / se), so the share ending above 95 % (and below 5 %) should be ≈ 5 %
 *      each (one-sided tests at 5 %), above 97.5 % ≈ 2.5 %.
 *   2. A/B with a known effect: the same traffic with treatment users' values × 1.03 (+3 % relative,
 *      the true absolute effect is 0.03 × the known control mean), peeked daily. Coverage of the
 *      true effect by the 95 % intervals at the end (fixed and sequential), and at every peek at once
 *      (only the sequential test promises that).
 *      CUPED: users whose behaviour persists, post = 0.8 · pre + noise (independent lognormal noise
 *      sized for corr(pre, post) = 0.7), treatment post × 1.03, a fixed sample; interval widths with
 *      and without CUPED, and coverage with CUPED.
 *   3. Sample ratio mismatch: the p-value of a 50.5 / 49.5 split of 200,000 users configured 50/50,
 *      and the false-alarm rate at p < 0.001 of a correct 50/50 split over SRM_RUNS (100,000) runs
 *      (the split drawn exactly from Binomial(200,000, ½) by inverse CDF).
 *
 * Reproducible: every run has its own seed derived from BENCH_SEED (default 1), scenario and run
 * index, so the same settings always print the same figures and more runs extend the same runs.
 * Scale: --scale N (or BENCH_SCALE) multiplies every run count; BENCH_AA_RUNS (2,000),
 * BENCH_AB_RUNS (1,000), BENCH_CUPED_RUNS (2,000), BENCH_SRM_RUNS (100,000), BENCH_DAYS (30) set
 * them one by one. Rates are printed with their 95 % Wilson (Monte Carlo) interval. A goal "≈ x" on
 * a rate is met when the estimate lies within 3.29 Monte Carlo standard errors of x (|z| ≤ 3.29, a
 * 0.1 % two-sided test, so that the eight such checks rarely fail by chance alone); "≤ x" / "≥ x"
 * compare the estimate itself.
 * `--report FILE` writes the figures as JSON, `--json` prints them instead of the tables.
 */
import { analyze, sampleRatioMismatch } from '../subgraphs/experiments/src/domain/analysis/index.js';
import type { AnalysisInput, ComparisonResult, VariantInput } from '../subgraphs/experiments/src/domain/analysis/index.js';
import { rng } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  return process.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}
const SCALE = Number(flag('--scale') ?? process.env['BENCH_SCALE'] ?? 1);
const runs = (env: string, base: number) => Math.max(1, Math.round(Number(process.env[env] ?? base) * SCALE));
const SEED = Number(process.env['BENCH_SEED'] ?? 1);
const AA_RUNS = runs('BENCH_AA_RUNS', 2000);
const AB_RUNS = runs('BENCH_AB_RUNS', 1000);
const CUPED_RUNS = runs('BENCH_CUPED_RUNS', 2000);
const SRM_RUNS = runs('BENCH_SRM_RUNS', 100_000);
const DAYS = Number(process.env['BENCH_DAYS'] ?? 30);
const json = process.argv.includes('--json');
const log = (m: string) => console.error(m);

const ALPHA = 0.05;
/** Users a day over both arms: uniform integer in [MIN, MAX], each assigned to an arm by coin flip. */
const DAILY_MIN = 400;
const DAILY_MAX = 2000;
/** gbstats' sequential tuning is the total units (both arms) where the sequence is tightest. */
const EXPECTED_FINAL_UNITS = (DAYS * (DAILY_MIN + DAILY_MAX)) / 2;
const DEFAULT_TUNING = 5000;
/** Per-user metric: 0 with probability ZERO, else e^N(MU, SIGMA²). */
const ZERO = 0.35;
const MU = 2.5;
const SIGMA = 1.0;
const METRIC_MEAN = (1 - ZERO) * Math.exp(MU + SIGMA ** 2 / 2);
const METRIC_VAR = (1 - ZERO) * Math.exp(2 * MU + 2 * SIGMA ** 2) - METRIC_MEAN ** 2;
const LIFT = 0.03;
// CUPED world: post = SLOPE · pre + noise, noise ~ lognormal(·, NOISE_SIGMA) with the variance that
// makes corr(pre, post) = RHO.
const SLOPE = 0.8;
const RHO = 0.7;
const NOISE_SIGMA = 0.8;
const NOISE_VAR = SLOPE ** 2 * METRIC_VAR * (1 / RHO ** 2 - 1);
const NOISE_MEAN = Math.sqrt(NOISE_VAR / (Math.exp(NOISE_SIGMA ** 2) - 1));
const NOISE_MU = Math.log(NOISE_MEAN) - NOISE_SIGMA ** 2 / 2;
const POST_MEAN = SLOPE * METRIC_MEAN + NOISE_MEAN;
const CUPED_USERS = 20_000;
const SRM_USERS = 200_000;
const SRM_THRESHOLD = 0.001;

// ---------------------------------------------------------------------------------------------
// Randomness

/** An independent seed per (scenario, run): a 32-bit mix of the base seed, scenario and run. */
function runSeed(scenario: number, run: number): number {
  let h = Math.imul(SEED ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(scenario + 1, 0x85ebca6b) ^ Math.imul(run + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

class Random {
  readonly uniform: () => number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.uniform = rng(seed);
  }
  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** Minutes watched: zero-inflated lognormal. */
  consumption(): number {
    return this.uniform() < ZERO ? 0 : Math.exp(MU + SIGMA * this.normal());
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Rate {
  rate: number;
  count: number;
  runs: number;
  /** 95 % Wilson interval of the Monte Carlo estimate. */
  ci95: [number, number];
}

function rate(count: number, n: number): Rate {
  const z = 1.959963984540054;
  const p = count / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { rate: p, count, runs: n, ci95: [Math.max(0, c - h), Math.min(1, c + h)] };
}

interface Goal {
  name: string;
  goal: string;
  value: string;
  met: boolean;
  /** "≈" goals: (estimate − goal) / its Monte Carlo standard error at the goal. */
  z?: number;
}

const pct = (v: number, digits = 1) => `${(v * 100).toFixed(digits)} %`;
const rateText = (r: Rate, digits = 1) => `${pct(r.rate, digits)} (${r.count.toLocaleString('en-US')} / ${r.runs.toLocaleString('en-US')}; 95 % MC ${pct(r.ci95[0], digits)}–${pct(r.ci95[1], digits)})`;
const Z_NEAR = 3.29;
/** A goal "≈ target" on a rate: met when the estimate is within Z_NEAR Monte Carlo standard errors. */
function near(name: string, r: Rate, target: number, digits = 1): Goal {
  const z = (r.rate - target) / Math.sqrt((target * (1 - target)) / r.runs);
  return { name, goal: `≈ ${pct(target, digits)}`, value: pct(r.rate, digits), met: Math.abs(z) <= Z_NEAR, z };
}
const sci = (v: number) => (v === 0 ? '0' : v < 1e-3 ? v.toExponential(2) : v.toPrecision(3));

class Counter {
  count = 0;
  add(ok: boolean) {
    if (ok) this.count++;
  }
}

// ---------------------------------------------------------------------------------------------
// Sufficient statistics

interface Arm {
  n: number;
  sum: number;
  sumSquares: number;
  covariateSum: number;
  covariateSumSquares: number;
  covariateSumProducts: number;
}
const arm = (): Arm => ({ n: 0, sum: 0, sumSquares: 0, covariateSum: 0, covariateSumSquares: 0, covariateSumProducts: 0 });
const meanInput = (a: Arm): VariantInput => ({ n: a.n, sum: a.sum, sumSquares: a.sumSquares });
const cupedInput = (a: Arm): VariantInput => ({ ...meanInput(a), covariateSum: a.covariateSum, covariateSumSquares: a.covariateSumSquares, covariateSumProducts: a.covariateSumProducts });

function compare(input: Omit<AnalysisInput, 'variants'>, a: VariantInput, b: VariantInput): ComparisonResult {
  const c = analyze({ ...input, variants: [a, b] }).comparisons[0]!;
  if (c.errorMessage) throw new Error(`analyze failed: ${c.errorMessage}`);
  return c;
}

const covers = (d: ComparisonResult['absolute'], truth: number) => d.low !== null && d.high !== null && d.low <= truth && truth <= d.high;
const significant = (c: ComparisonResult) => c.relative.pValue !== null && c.relative.pValue < ALPHA;

/** One day of arrivals: each user to control or treatment by coin flip, treatment values × (1 + lift). */
function arrive(r: Random, control: Arm, treatment: Arm, lift: number) {
  const users = r.int(DAILY_MIN, DAILY_MAX);
  for (let u = 0; u < users; u++) {
    const toTreatment = r.uniform() < 0.5;
    const target = toTreatment ? treatment : control;
    const x = toTreatment ? r.consumption() * (1 + lift) : r.consumption();
    target.n++;
    target.sum += x;
    target.sumSquares += x * x;
  }
}

const FIXED = { engine: 'frequentist', metric: 'mean' } as const;
const SEQ_TUNED = { engine: 'frequentist', metric: 'mean', sequential: true, sequentialTuning: EXPECTED_FINAL_UNITS } as const;
const SEQ_DEFAULT = { engine: 'frequentist', metric: 'mean', sequential: true, sequentialTuning: DEFAULT_TUNING } as const;
const BAYES = { engine: 'bayesian', metric: 'mean' } as const;

// ---------------------------------------------------------------------------------------------
// 1. A/A peeking (+ Bayesian calibration)

function aaPeeking() {
  const ever = { fixed: new Counter(), tuned: new Counter(), default: new Counter(), ctwAbove95: new Counter() };
  const final = { fixed: new Counter(), tuned: new Counter(), default: new Counter(), ctwAbove95: new Counter(), ctwBelow5: new Counter(), ctwAbove975: new Counter() };
  let units = 0;
  for (let run = 0; run < AA_RUNS; run++) {
    const r = new Random(runSeed(1, run));
    const a = arm();
    const b = arm();
    const seen = { fixed: false, tuned: false, default: false, ctw: false };
    for (let day = 1; day <= DAYS; day++) {
      arrive(r, a, b, 0);
      const [ia, ib] = [meanInput(a), meanInput(b)];
      const fixed = significant(compare(FIXED, ia, ib));
      const tuned = significant(compare(SEQ_TUNED, ia, ib));
      const dflt = significant(compare(SEQ_DEFAULT, ia, ib));
      const ctw = compare(BAYES, ia, ib).chanceToWin!;
      seen.fixed ||= fixed;
      seen.tuned ||= tuned;
      seen.default ||= dflt;
      seen.ctw ||= ctw > 0.95;
      if (day === DAYS) {
        final.fixed.add(fixed);
        final.tuned.add(tuned);
        final.default.add(dflt);
        final.ctwAbove95.add(ctw > 0.95);
        final.ctwBelow5.add(ctw < 0.05);
        final.ctwAbove975.add(ctw > 0.975);
      }
    }
    ever.fixed.add(seen.fixed);
    ever.tuned.add(seen.tuned);
    ever.default.add(seen.default);
    ever.ctwAbove95.add(seen.ctw);
    units += a.n + b.n;
  }
  const n = AA_RUNS;
  return {
    runs: n,
    days: DAYS,
    peeks: DAYS,
    usersPerDayBothArms: [DAILY_MIN, DAILY_MAX],
    meanFinalUnits: units / n,
    metric: `per-user minutes: 0 with p ${ZERO}, else lognormal(μ ${MU}, σ ${SIGMA}); mean ${METRIC_MEAN.toFixed(2)}, sd ${Math.sqrt(METRIC_VAR).toFixed(2)}`,
    test: 'relative lift, p < 0.05, analysed after every day',
    fixed: { everSignificant: rate(ever.fixed.count, n), finalSignificant: rate(final.fixed.count, n) },
    sequentialTuned: { sequentialTuning: EXPECTED_FINAL_UNITS, everSignificant: rate(ever.tuned.count, n), finalSignificant: rate(final.tuned.count, n) },
    sequentialDefault: { sequentialTuning: DEFAULT_TUNING, everSignificant: rate(ever.default.count, n), finalSignificant: rate(final.default.count, n) },
    bayesian: {
      finalChanceToWinAbove95: rate(final.ctwAbove95.count, n),
      finalChanceToWinBelow5: rate(final.ctwBelow5.count, n),
      finalChanceToWinAbove975: rate(final.ctwAbove975.count, n),
      everChanceToWinAbove95: rate(ever.ctwAbove95.count, n),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 2a. A/B coverage with a known effect, peeked daily

function abCoverage() {
  const trueAbsolute = LIFT * METRIC_MEAN;
  const configs = { fixed: FIXED, sequentialTuned: SEQ_TUNED, sequentialDefault: SEQ_DEFAULT } as const;
  type Name = keyof typeof configs;
  const names = Object.keys(configs) as Name[];
  const tally = Object.fromEntries(
    names.map((k) => [k, { finalAbs: new Counter(), finalRel: new Counter(), allAbs: new Counter(), allRel: new Counter(), significant: new Counter(), widthRel: 0 }]),
  ) as Record<Name, { finalAbs: Counter; finalRel: Counter; allAbs: Counter; allRel: Counter; significant: Counter; widthRel: number }>;
  for (let run = 0; run < AB_RUNS; run++) {
    const r = new Random(runSeed(2, run));
    const a = arm();
    const b = arm();
    const always = Object.fromEntries(names.map((k) => [k, { abs: true, rel: true }])) as Record<Name, { abs: boolean; rel: boolean }>;
    for (let day = 1; day <= DAYS; day++) {
      arrive(r, a, b, LIFT);
      const [ia, ib] = [meanInput(a), meanInput(b)];
      for (const k of names) {
        const c = compare(configs[k], ia, ib);
        const abs = covers(c.absolute, trueAbsolute);
        const rel = covers(c.relative, LIFT);
        always[k].abs &&= abs;
        always[k].rel &&= rel;
        if (day === DAYS) {
          tally[k].finalAbs.add(abs);
          tally[k].finalRel.add(rel);
          tally[k].significant.add(significant(c));
          tally[k].widthRel += c.relative.high! - c.relative.low!;
        }
      }
    }
    for (const k of names) {
      tally[k].allAbs.add(always[k].abs);
      tally[k].allRel.add(always[k].rel);
    }
  }
  const n = AB_RUNS;
  const out = (k: Name) => ({
    finalCoverage: { absolute: rate(tally[k].finalAbs.count, n), relative: rate(tally[k].finalRel.count, n) },
    coverageAtEveryPeek: { absolute: rate(tally[k].allAbs.count, n), relative: rate(tally[k].allRel.count, n) },
    power: rate(tally[k].significant.count, n),
    meanRelativeWidth: tally[k].widthRel / n,
  });
  return {
    runs: n,
    days: DAYS,
    lift: LIFT,
    trueControlMean: METRIC_MEAN,
    trueAbsolute,
    fixed: out('fixed'),
    sequentialTuned: { sequentialTuning: EXPECTED_FINAL_UNITS, ...out('sequentialTuned') },
    sequentialDefault: { sequentialTuning: DEFAULT_TUNING, ...out('sequentialDefault') },
  };
}

// ---------------------------------------------------------------------------------------------
// 2b. CUPED

function cuped() {
  const trueAbsolute = LIFT * POST_MEAN;
  const configs = {
    unadjusted: { ...FIXED, cuped: false },
    cuped: { ...FIXED, cuped: true },
    sequentialCuped: { ...SEQ_TUNED, sequentialTuning: CUPED_USERS, cuped: true },
  } as const;
  type Name = keyof typeof configs;
  const names = Object.keys(configs) as Name[];
  const tally = Object.fromEntries(names.map((k) => [k, { abs: new Counter(), rel: new Counter(), widthAbs: 0, widthRel: 0 }])) as Record<
    Name,
    { abs: Counter; rel: Counter; widthAbs: number; widthRel: number }
  >;
  let theta = 0;
  let reduction = 0;
  let correlation = 0;
  for (let run = 0; run < CUPED_RUNS; run++) {
    const r = new Random(runSeed(3, run));
    const a = arm();
    const b = arm();
    for (let u = 0; u < CUPED_USERS; u++) {
      const toTreatment = r.uniform() < 0.5;
      const pre = r.consumption();
      const post = (SLOPE * pre + Math.exp(NOISE_MU + NOISE_SIGMA * r.normal())) * (toTreatment ? 1 + LIFT : 1);
      const t = toTreatment ? b : a;
      t.n++;
      t.sum += post;
      t.sumSquares += post * post;
      t.covariateSum += pre;
      t.covariateSumSquares += pre * pre;
      t.covariateSumProducts += post * pre;
    }
    // Sample correlation of pre and post in control.
    const cov = a.covariateSumProducts / a.n - (a.sum / a.n) * (a.covariateSum / a.n);
    correlation += cov / Math.sqrt((a.sumSquares / a.n - (a.sum / a.n) ** 2) * (a.covariateSumSquares / a.n - (a.covariateSum / a.n) ** 2));
    const [ia, ib] = [cupedInput(a), cupedInput(b)];
    for (const k of names) {
      const c = compare(configs[k], ia, ib);
      tally[k].abs.add(covers(c.absolute, trueAbsolute));
      tally[k].rel.add(covers(c.relative, LIFT));
      tally[k].widthAbs += c.absolute.high! - c.absolute.low!;
      tally[k].widthRel += c.relative.high! - c.relative.low!;
      if (k === 'cuped') {
        theta += c.cuped!.theta;
        reduction += c.cuped!.varianceReduction ?? 0;
      }
    }
  }
  const n = CUPED_RUNS;
  const out = (k: Name) => ({
    coverage: { absolute: rate(tally[k].abs.count, n), relative: rate(tally[k].rel.count, n) },
    meanWidth: { absolute: tally[k].widthAbs / n, relative: tally[k].widthRel / n },
  });
  const unadjusted = out('unadjusted');
  const adjusted = out('cuped');
  return {
    runs: n,
    usersPerRun: CUPED_USERS,
    model: `pre = per-user minutes as in the A/A test; post = ${SLOPE}·pre + lognormal noise (mean ${NOISE_MEAN.toFixed(2)}, σ ${NOISE_SIGMA}); treatment post × ${1 + LIFT}`,
    targetCorrelation: RHO,
    meanObservedCorrelation: correlation / n,
    lift: LIFT,
    trueAbsolute,
    meanTheta: theta / n,
    meanVarianceReduction: reduction / n,
    unadjusted,
    cuped: adjusted,
    sequentialCuped: { sequentialTuning: CUPED_USERS, ...out('sequentialCuped') },
    widthReduction: {
      absolute: 1 - adjusted.meanWidth.absolute / unadjusted.meanWidth.absolute,
      relative: 1 - adjusted.meanWidth.relative / unadjusted.meanWidth.relative,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 3. SRM

/** Exact Binomial(n, p) sampler by inverse CDF over mean ± 12 sd (the mass outside is < 1e-30). */
function binomialSampler(n: number, p: number): (u: number) => number {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  const lo = Math.max(0, Math.floor(mean - 12 * sd));
  const hi = Math.min(n, Math.ceil(mean + 12 * sd));
  const mode = Math.floor((n + 1) * p);
  const logPmf = new Float64Array(hi - lo + 1);
  const odds = Math.log(p / (1 - p));
  for (let k = mode; k < hi; k++) logPmf[k + 1 - lo] = logPmf[k - lo]! + Math.log((n - k) / (k + 1)) + odds;
  for (let k = mode; k > lo; k--) logPmf[k - 1 - lo] = logPmf[k - lo]! - Math.log((n - k + 1) / k) - odds;
  const cdf = new Float64Array(logPmf.length);
  let total = 0;
  for (let i = 0; i < logPmf.length; i++) cdf[i] = total += Math.exp(logPmf[i]!);
  for (let i = 0; i < cdf.length; i++) cdf[i]! /= total;
  return (u) => {
    let a = 0;
    let b = cdf.length - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      if (cdf[m]! < u) a = m + 1;
      else b = m;
    }
    return lo + a;
  };
}

function srm() {
  const split = (users: number) => {
    const control = Math.round(users * 0.505);
    const res = analyze({ engine: 'frequentist', metric: 'proportion', variants: [{ n: control, sum: 0, weight: 50 }, { n: users - control, sum: 0, weight: 50 }] }).srm;
    return { users, control, treatment: users - control, chiSquare: res.chiSquare, pValue: res.pValue };
  };
  const headline = split(SRM_USERS);
  const bySize = [10_000, 20_000, 50_000, 100_000, 200_000, 500_000].map(split);
  const simulate = (p: number, scenario: number) => {
    const draw = binomialSampler(SRM_USERS, p);
    const r = rng(runSeed(scenario, 0));
    let alarms = 0;
    for (let run = 0; run < SRM_RUNS; run++) {
      const control = draw(r());
      if (sampleRatioMismatch([control, SRM_USERS - control], [50, 50]).pValue < SRM_THRESHOLD) alarms++;
    }
    return rate(alarms, SRM_RUNS);
  };
  return {
    users: SRM_USERS,
    threshold: SRM_THRESHOLD,
    split505: headline,
    bySize,
    /** A correct 50/50 assignment: how often the check cries wolf. */
    falseAlarm: simulate(0.5, 4),
    /** Random assignment with a true 50.5 % share: how often the check catches it. */
    detection505: simulate(0.505, 5),
  };
}

// ---------------------------------------------------------------------------------------------

function timed<T>(what: string, f: () => T): T & { seconds: number } {
  log(`${what}...`);
  const t = performance.now();
  const out = f();
  const seconds = (performance.now() - t) / 1000;
  log(`  ${seconds.toFixed(1)} s`);
  return { ...out, seconds };
}

function main() {
  const started = performance.now();
  log(`seed ${SEED}, ${AA_RUNS} A/A runs and ${AB_RUNS} A/B runs of ${DAYS} daily peeks, ${CUPED_RUNS} CUPED runs of ${CUPED_USERS.toLocaleString('en-US')} users, ${SRM_RUNS.toLocaleString('en-US')} SRM runs`);
  const aa = timed('A/A peeking', aaPeeking);
  const ab = timed('A/B coverage with a +3 % effect', abCoverage);
  const cu = timed('CUPED', cuped);
  const sr = timed('SRM', srm);

  const goals: Goal[] = [
    {
      name: 'A/A, 30 daily peeks: sequential test (tuned) ever significant',
      goal: '≤ 5 %',
      value: pct(aa.sequentialTuned.everSignificant.rate),
      met: aa.sequentialTuned.everSignificant.rate <= 0.05,
    },
    {
      name: 'A/A, 30 daily peeks: sequential test (default tuning 5,000) ever significant',
      goal: '≤ 5 %',
      value: pct(aa.sequentialDefault.everSignificant.rate),
      met: aa.sequentialDefault.everSignificant.rate <= 0.05,
    },
    near('A/A: fixed-horizon test significant at the planned end only', aa.fixed.finalSignificant, 0.05),
    near('A/B +3 %: fixed-horizon 95 % interval covers the true absolute effect', ab.fixed.finalCoverage.absolute, 0.95),
    near('A/B +3 %: fixed-horizon 95 % interval covers the true relative effect', ab.fixed.finalCoverage.relative, 0.95),
    {
      name: 'A/B +3 %: sequential (tuned) interval covers the true relative effect at every one of 30 peeks',
      goal: '≥ 95 %',
      value: pct(ab.sequentialTuned.coverageAtEveryPeek.relative.rate),
      met: ab.sequentialTuned.coverageAtEveryPeek.relative.rate >= 0.95,
    },
    {
      name: 'A/B +3 %: sequential (tuned) interval covers the true absolute effect at every one of 30 peeks',
      goal: '≥ 95 %',
      value: pct(ab.sequentialTuned.coverageAtEveryPeek.absolute.rate),
      met: ab.sequentialTuned.coverageAtEveryPeek.absolute.rate >= 0.95,
    },
    { name: 'CUPED (ρ ≈ 0.7): relative interval narrower than unadjusted', goal: '≥ 20 %', value: pct(cu.widthReduction.relative), met: cu.widthReduction.relative >= 0.2 },
    near('CUPED: 95 % interval covers the true absolute effect', cu.cuped.coverage.absolute, 0.95),
    near('CUPED: 95 % interval covers the true relative effect', cu.cuped.coverage.relative, 0.95),
    { name: 'SRM: 50.5 / 49.5 of 200,000 users configured 50/50, p-value', goal: '< 0.001', value: sci(sr.split505.pValue), met: sr.split505.pValue < 0.001 },
    near('SRM: correct 50/50 split flagged at p < 0.001', sr.falseAlarm, 0.001, 3),
    // With gbstats' default flat prior, chance to win is Φ(estimate / se): above 95 % is a one-sided 5 % test, above 97.5 % a one-sided 2.5 % one.
    near('Bayesian A/A: chance to win > 95 % at the end', aa.bayesian.finalChanceToWinAbove95, 0.05),
    near('Bayesian A/A: chance to win > 97.5 % at the end', aa.bayesian.finalChanceToWinAbove975, 0.025),
  ];
  const result = {
    seed: SEED,
    alpha: ALPHA,
    aaPeeking: aa,
    abCoverage: ab,
    cuped: cu,
    srm: sr,
    goals,
    goalsMet: goals.filter((g) => g.met).length,
    allGoalsMet: goals.every((g) => g.met),
    seconds: (performance.now() - started) / 1000,
  };
  saveReport(result);
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const p = (s: string) => console.log(s);
  const met = (ok: boolean) => (ok ? 'met' : '**not met**');
  p(`Statistical validity of the experiment analysis (the gbstats engine, \`analyze()\` on sufficient statistics), from seeded simulations (seed ${SEED}; ${result.seconds.toFixed(0)} s). Rates carry their 95 % Monte Carlo interval; a goal "≈ x" is met when the estimate is within ${Z_NEAR} Monte Carlo standard errors of x (|z| below, a 0.1 % test, so that the ${goals.filter((g) => g.z !== undefined).length} such checks rarely fail by chance).`);
  p('');
  p(`**A/A peeking.** No true effect; ${aa.runs.toLocaleString('en-US')} runs of ${DAYS} days, ${DAILY_MIN}–${DAILY_MAX} users a day split by coin flip (≈ ${DAILY_MIN / 2}–${DAILY_MAX / 2} per arm, ${Math.round(aa.meanFinalUnits).toLocaleString('en-US')} units at the end on average), ${aa.metric}. Analysed after every day on the relative lift at α = ${ALPHA}.`);
  p('');
  p('| test | ever significant over 30 peeks | significant at day 30 only |');
  p('|---|---|---|');
  p(`| fixed-horizon t-test | ${rateText(aa.fixed.everSignificant)} | ${rateText(aa.fixed.finalSignificant)} |`);
  p(`| sequential, tuning ${EXPECTED_FINAL_UNITS.toLocaleString('en-US')} (expected final units) | ${rateText(aa.sequentialTuned.everSignificant)} | ${rateText(aa.sequentialTuned.finalSignificant)} |`);
  p(`| sequential, tuning ${DEFAULT_TUNING.toLocaleString('en-US')} (gbstats default) | ${rateText(aa.sequentialDefault.everSignificant)} | ${rateText(aa.sequentialDefault.finalSignificant)} |`);
  p(`| Bayesian (flat prior), chance to win > 95 % | ${rateText(aa.bayesian.everChanceToWinAbove95)} | ${rateText(aa.bayesian.finalChanceToWinAbove95)} |`);
  p(`| Bayesian (flat prior), chance to win < 5 % | | ${rateText(aa.bayesian.finalChanceToWinBelow5)} |`);
  p(`| Bayesian (flat prior), chance to win > 97.5 % | | ${rateText(aa.bayesian.finalChanceToWinAbove975)} |`);
  p('');
  p(`Peeking every day inflates the fixed-horizon test's false positives ${(aa.fixed.everSignificant.rate / ALPHA).toFixed(1)}x over its nominal ${pct(ALPHA, 0)}; the sequential test keeps them below ${pct(ALPHA, 0)} however often it is read. With the default flat prior, chance to win is Φ(estimate / se), so on an A/A test it ends above 95 % in ≈ 5 % of runs (a one-sided 5 % test; above 97.5 % in ≈ 2.5 %), and peeking at it inflates it like the fixed-horizon p-value.`);
  p('');
  p(`**A/B with a known effect.** Treatment values × ${1 + LIFT} (true relative effect +${pct(LIFT, 0)}, true absolute ${ab.trueAbsolute.toFixed(4)} minutes on a control mean of ${METRIC_MEAN.toFixed(3)}), ${ab.runs.toLocaleString('en-US')} runs with the same traffic, 95 % intervals after every day.`);
  p('');
  p('| test | covers absolute at day 30 | covers relative at day 30 | covers absolute at every peek | covers relative at every peek | mean relative width | power at day 30 |');
  p('|---|---|---|---|---|---|---|');
  const abRow = (label: string, t: typeof ab.fixed) =>
    p(`| ${label} | ${rateText(t.finalCoverage.absolute)} | ${rateText(t.finalCoverage.relative)} | ${rateText(t.coverageAtEveryPeek.absolute)} | ${rateText(t.coverageAtEveryPeek.relative)} | ${pct(t.meanRelativeWidth, 2)} | ${pct(t.power.rate)} |`);
  abRow('fixed-horizon', ab.fixed);
  abRow(`sequential, tuning ${EXPECTED_FINAL_UNITS.toLocaleString('en-US')}`, ab.sequentialTuned);
  abRow(`sequential, tuning ${DEFAULT_TUNING.toLocaleString('en-US')}`, ab.sequentialDefault);
  p('');
  p(`**CUPED.** ${cu.runs.toLocaleString('en-US')} runs of ${CUPED_USERS.toLocaleString('en-US')} users split by coin flip; ${cu.model}; observed corr(pre, post) ${cu.meanObservedCorrelation.toFixed(3)}, mean θ ${cu.meanTheta.toFixed(3)}, variance reduction reported by the engine ${pct(cu.meanVarianceReduction)}.`);
  p('');
  p('| analysis | covers absolute | covers relative | mean absolute width | mean relative width |');
  p('|---|---|---|---|---|');
  const cuRow = (label: string, t: typeof cu.cuped) =>
    p(`| ${label} | ${rateText(t.coverage.absolute)} | ${rateText(t.coverage.relative)} | ${t.meanWidth.absolute.toFixed(4)} | ${pct(t.meanWidth.relative, 2)} |`);
  cuRow('unadjusted', cu.unadjusted);
  cuRow('CUPED', cu.cuped);
  cuRow(`CUPED, sequential (tuning ${CUPED_USERS.toLocaleString('en-US')})`, cu.sequentialCuped);
  p('');
  p(`CUPED intervals are ${pct(cu.widthReduction.relative)} narrower on the relative lift (${pct(cu.widthReduction.absolute)} on the absolute difference); 1 − √(1 − ρ²) = ${pct(1 - Math.sqrt(1 - RHO ** 2))} is the ideal.`);
  p('');
  p(`**Sample ratio mismatch.** χ² test of the units against the configured 50/50 weights.`);
  p('');
  p('| users | split | χ² | p-value | flagged at p < 0.001 |');
  p('|---|---|---|---|---|');
  for (const s of sr.bySize) p(`| ${s.users.toLocaleString('en-US')} | ${s.control.toLocaleString('en-US')} / ${s.treatment.toLocaleString('en-US')} (50.5 / 49.5) | ${s.chiSquare.toFixed(2)} | ${sci(s.pValue)} | ${s.pValue < SRM_THRESHOLD ? 'yes' : 'no'} |`);
  p('');
  p(`Over ${SRM_RUNS.toLocaleString('en-US')} simulated assignments of ${SRM_USERS.toLocaleString('en-US')} users: a correct 50/50 split is flagged in ${rateText(sr.falseAlarm, 3)}; a true 50.5 % share is caught in ${rateText(sr.detection505)}.`);
  p('');
  p(`**Goals** (${result.goalsMet} of ${goals.length} met)`);
  p('');
  p('| figure | value | goal | Monte Carlo z | |');
  p('|---|---|---|---|---|');
  for (const g of goals) p(`| ${g.name} | ${g.value} | ${g.goal} | ${g.z === undefined ? '' : g.z.toFixed(2)} | ${met(g.met)} |`);
}

main();
