/** Experiments: definition, validation and lifecycle (pure). */
import { CodedError } from '../../../../lib/contracts/errors.js';

export type ExperimentStatus = 'DRAFT' | 'RUNNING' | 'STOPPED';

export interface Variant {
  key: string;
  name: string;
  weight: number;
}

/** How results are analysed (GrowthBook's analysis settings); changeable while running. */
export interface AnalysisSettings {
  engine: 'FREQUENTIST' | 'BAYESIAN';
  /** Frequentist: anytime-valid confidence sequences (results may be watched continuously). */
  sequential: boolean;
  /** The sequential tuning parameter (gbstats' default 5000: the sample size tuned for). */
  sequentialTuning: number;
  /** Significance level (frequentist) / 1 − credibility (Bayesian). */
  alpha: number;
  /** Variance reduction with the pre-exposure covariate recorded at assignment. */
  cuped: boolean;
  /** Adjustment of the goal metrics' p-values across metrics and variants. */
  correction: 'NONE' | 'HOLM_BONFERRONI' | 'BENJAMINI_HOCHBERG';
  /** Metrics checked for harm only, never corrected away. */
  guardrails: string[];
  /** Exposed users each arm needs before any verdict. */
  minimumExposedUsers: number;
}

export const DEFAULT_ANALYSIS: AnalysisSettings = {
  engine: 'FREQUENTIST',
  sequential: false,
  sequentialTuning: 5000,
  alpha: 0.05,
  cuped: true,
  correction: 'NONE',
  guardrails: [],
  minimumExposedUsers: 100,
};

export const ANALYSIS_METRICS = ['ctr', 'consumption_per_exposed_user', 'engaged_user_rate', 'revenue_per_exposed_user'];

/** Validates analysis settings over the current ones (or the defaults). */
export function checkAnalysis(input: Partial<Record<keyof AnalysisSettings, unknown>> | null | undefined, base: AnalysisSettings = DEFAULT_ANALYSIS): AnalysisSettings {
  const out = { ...base };
  if (!input) return out;
  const bad = (field: string, message: string) => new CodedError('ANALYSIS_SETTINGS_INVALID', `analysis.${field}: ${message}`);
  if (input.engine != null) {
    if (input.engine !== 'FREQUENTIST' && input.engine !== 'BAYESIAN') throw bad('engine', 'must be FREQUENTIST or BAYESIAN');
    out.engine = input.engine;
  }
  if (input.sequential != null) out.sequential = input.sequential === true;
  if (input.sequentialTuning != null) {
    const t = input.sequentialTuning;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 1e9) throw bad('sequentialTuning', 'must be a whole number from 1');
    out.sequentialTuning = t;
  }
  if (input.alpha != null) {
    const a = input.alpha;
    if (typeof a !== 'number' || !(a > 0 && a < 0.5)) throw bad('alpha', 'must be between 0 and 0.5');
    out.alpha = a;
  }
  if (input.cuped != null) out.cuped = input.cuped === true;
  if (input.correction != null) {
    if (!['NONE', 'HOLM_BONFERRONI', 'BENJAMINI_HOCHBERG'].includes(input.correction as string)) throw bad('correction', 'must be NONE, HOLM_BONFERRONI or BENJAMINI_HOCHBERG');
    out.correction = input.correction as AnalysisSettings['correction'];
  }
  if (input.guardrails != null) {
    const g = input.guardrails;
    if (!Array.isArray(g) || g.some((m) => !ANALYSIS_METRICS.includes(m as string))) throw bad('guardrails', `must list metrics among ${ANALYSIS_METRICS.join(', ')}`);
    out.guardrails = [...new Set(g as string[])];
  }
  if (input.minimumExposedUsers != null) {
    const m = input.minimumExposedUsers;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 1e9) throw bad('minimumExposedUsers', 'must be a whole number from 0');
    out.minimumExposedUsers = m;
  }
  return out;
}

export interface Experiment {
  key: string;
  name: string;
  description: string | null;
  status: ExperimentStatus;
  variants: Variant[];
  coverage: number;
  seed: string;
  hashVersion: 1 | 2;
  condition: Record<string, unknown> | null;
  /** Bumped on every re-weight: the SRM check compares only users assigned under the current weights. */
  weightsVersion: number;
  analysis: AnalysisSettings;
  createdAt: number;
  startedAt: number | null;
  stoppedAt: number | null;
  updatedAt: number;
}

export interface ExperimentInput {
  key: string;
  name: string;
  description?: string | null;
  variants: Array<{ key: string; name?: string | null; weight: number }>;
  coverage?: number | null;
  seed?: string | null;
  hashVersion?: number | null;
  condition?: unknown;
  analysis?: Partial<Record<keyof AnalysisSettings, unknown>> | null;
}


const KEY = /^[a-z0-9][a-z0-9_.-]{0,63}$/i;
const WEIGHT_TOLERANCE = 1e-6;

export function checkKey(key: string, field = 'key'): string {
  if (!KEY.test(key)) {
    throw new CodedError('BAD_USER_INPUT', `${field} must be 1 to 64 letters, digits, or . _ - (starting with a letter or digit)`);
  }
  return key;
}

export function checkWeights(weights: readonly number[], count: number): number[] {
  if (weights.length !== count) throw new CodedError('WEIGHTS_INVALID', `expected ${count} weights, one per variant; got ${weights.length}`);
  if (weights.some((w) => !Number.isFinite(w) || w < 0 || w > 1)) {
    throw new CodedError('WEIGHTS_INVALID', 'each weight must be between 0 and 1');
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > WEIGHT_TOLERANCE) {
    throw new CodedError('WEIGHTS_INVALID', `weights must sum to 1; they sum to ${Number(sum.toFixed(6))}`);
  }
  return [...weights];
}

export function checkCoverage(coverage: number): number {
  if (!Number.isFinite(coverage) || coverage < 0 || coverage > 1) {
    throw new CodedError('COVERAGE_INVALID', 'coverage must be between 0 and 1');
  }
  return coverage;
}

export function newExperiment(input: ExperimentInput, now: number): Experiment {
  const key = checkKey(input.key);
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new CodedError('BAD_USER_INPUT', 'name must be 1 to 200 characters');
  if (input.variants.length < 2 || input.variants.length > 20) {
    throw new CodedError('VARIANTS_INVALID', 'an experiment needs 2 to 20 variants (the first is the control)');
  }
  const keys = input.variants.map((v) => checkKey(v.key, 'variant key'));
  if (new Set(keys).size !== keys.length) throw new CodedError('VARIANTS_INVALID', 'variant keys must be unique');
  const weights = checkWeights(
    input.variants.map((v) => v.weight),
    input.variants.length,
  );
  const hashVersion = input.hashVersion ?? 2;
  if (hashVersion !== 1 && hashVersion !== 2) throw new CodedError('BAD_USER_INPUT', 'hashVersion must be 1 or 2');
  const condition = input.condition ?? null;
  if (condition !== null && (typeof condition !== 'object' || Array.isArray(condition))) {
    throw new CodedError('CONDITION_INVALID', 'condition must be a GrowthBook condition object, for example { "plan": "premium" }');
  }
  if (condition !== null && JSON.stringify(condition).length > 4096) {
    throw new CodedError('CONDITION_INVALID', 'condition is larger than 4 KB');
  }
  const seed = input.seed ?? key;
  if (seed.length === 0 || seed.length > 128) throw new CodedError('BAD_USER_INPUT', 'seed must be 1 to 128 characters');
  return {
    key,
    name,
    description: input.description ?? null,
    status: 'DRAFT',
    variants: input.variants.map((v, i) => ({ key: keys[i]!, name: v.name?.trim() || keys[i]!, weight: weights[i]! })),
    coverage: checkCoverage(input.coverage ?? 1),
    seed,
    hashVersion,
    condition: condition as Record<string, unknown> | null,
    weightsVersion: 1,
    analysis: checkAnalysis(input.analysis),
    createdAt: now,
    startedAt: null,
    stoppedAt: null,
    updatedAt: now,
  };
}

export function start(e: Experiment, now: number): Experiment {
  if (e.status === 'RUNNING') return e;
  return { ...e, status: 'RUNNING', startedAt: e.startedAt ?? now, stoppedAt: null, updatedAt: now };
}

export function stop(e: Experiment, now: number): Experiment {
  if (e.status !== 'RUNNING') throw new CodedError('EXPERIMENT_NOT_RUNNING', `experiment ${e.key} is ${e.status}, not RUNNING`);
  return { ...e, status: 'STOPPED', stoppedAt: now, updatedAt: now };
}

export function reweight(e: Experiment, weights: readonly number[], coverage: number | null | undefined, now: number): Experiment {
  const checked = checkWeights(weights, e.variants.length);
  return {
    ...e,
    variants: e.variants.map((v, i) => ({ ...v, weight: checked[i]! })),
    coverage: coverage == null ? e.coverage : checkCoverage(coverage),
    weightsVersion: e.weightsVersion + 1,
    updatedAt: now,
  };
}
