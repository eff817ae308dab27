/**
 * Use cases of the experiments service: lifecycle, sticky assignment, unit-event tracking with
 * verified impressions, and results computed from running aggregates.
 */
import { UNIT_ID, impressionKey, verifyImpression } from '../../../../lib/contracts/impression.js';
import { validateId, DEFAULT_VALIDATION_LIMITS } from '../../../../lib/contracts/validate.js';
import { evaluate } from '../domain/assign.js';
import type { Assignment } from '../domain/assign.js';
import { checkAnalysis, DEFAULT_ANALYSIS, newExperiment, reweight, start, stop } from '../domain/experiment.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import type { AnalysisSettings, Experiment, ExperimentInput, ExperimentStatus } from '../domain/experiment.js';
import { computeResults } from '../domain/results.js';
import type { ComputedResults, PlanningFigure, SlotResult, VariantComparison } from '../domain/results.js';
import { ALL_UNITS, emptyAggregate, shiftAggregate } from '../domain/metrics.js';
import type { RecordedUnitEvent, VariantAggregate } from '../domain/metrics.js';
import { DEFAULT_UNIT_EVENT_LIMITS, checkUnitEvent } from '../domain/unit-events.js';
import type { UnitEventLimits } from '../domain/unit-events.js';
import { ratioOf, meanOf } from '../domain/stats.js';
import type { ExperimentStores } from '../store/ports.js';

export interface UserTraits {
  userId: string;
  traits: Record<string, unknown>;
  /** The user's pre-exposure covariate (CUPED), recorded with a new assignment. */
  covariate?: number | null;
}

/** Experiments stored before analysis settings existed get the defaults. */
const withAnalysis = (e: Experiment): Experiment => (e.analysis ? e : { ...e, analysis: DEFAULT_ANALYSIS });

/** The audiences the user is in, as the targeting attributes carry them (`audiences`). */
function audiencesOf(attributes: Record<string, unknown>): string[] {
  const a = attributes['audiences'];
  return Array.isArray(a) ? a.filter((id): id is string => typeof id === 'string') : [];
}

export interface UnitEventRejection {
  index: number;
  eventId: string | null;
  code: string;
  message: string;
}

export interface VariantResult {
  variant: string;
  weight: number;
  assignedUsers: number;
  exposedUsers: number;
  impressions: number;
  clicks: number;
  ctr: number | null;
  consumptionPerExposedUser: number | null;
  engagedUserRate: number | null;
  revenuePerExposedUser: number | null;
}

export type { MetricComparison, VariantComparison } from '../domain/results.js';

export interface ExperimentResults {
  experimentKey: string;
  unitId: string | null;
  /** The cohort (audience at assignment) the results are for; null: every user. */
  audienceId: string | null;
  generatedAt: number;
  analysis: AnalysisSettings;
  variants: VariantResult[];
  comparisons: VariantComparison[];
  slots: SlotResult[];
  planning: PlanningFigure[];
  srm: ComputedResults['srm'];
}

export const MAX_UNIT_EVENTS = 1000;

/** BATCH_TOO_LARGE above MAX_UNIT_EVENTS events per call. */
export function checkUnitEventBatch(count: number): void {
  if (count > MAX_UNIT_EVENTS) throw new CodedError('BATCH_TOO_LARGE', `at most ${MAX_UNIT_EVENTS} unit events per call; got ${count}`);
}

/** Told what tracking did, as it happens. */
export interface ExperimentServiceObserver {
  /** After every trackUnitEvents batch, with what became of its events (metrics). */
  tracked?(accepted: number, duplicates: number, rejectedCodes: readonly string[]): void;
  /** After unit events were recorded, once per experiment they moved. */
  recorded?(changed: { experimentKey: string; unitIds: string[] }): void;
}

export class ExperimentService {
  /** Definitions read for assignments, reused for definitionsCacheMs (writes here drop them). */
  private definitions: { until: number; all: Promise<Experiment[]> } | null = null;

  constructor(
    private readonly stores: ExperimentStores,
    private readonly impressionSecret: string,
    private readonly now: () => number = Date.now,
    /** Other replicas' changes to experiments reach this one's assignments within this time. */
    private readonly definitionsCacheMs = 0,
    /** Impression lifetime, occurredAt window and value bounds of unit events. */
    private readonly unitEventLimits: UnitEventLimits = DEFAULT_UNIT_EVENT_LIMITS,
    /** What tracking did (metrics) and which results moved (live results). */
    private readonly observe?: ExperimentServiceObserver,
  ) {}

  /** Each event's user covariate, as its assignment recorded it (one read per experiment). */
  private async withCovariates(events: RecordedUnitEvent[]): Promise<void> {
    const byExperiment = new Map<string, RecordedUnitEvent[]>();
    for (const e of events) {
      let list = byExperiment.get(e.experimentKey);
      if (!list) byExperiment.set(e.experimentKey, (list = []));
      list.push(e);
    }
    await Promise.all(
      [...byExperiment].map(async ([key, list]) => {
        const users = [...new Set(list.map((e) => e.userId))];
        const covariates = await this.stores.assignments.covariates(key, users);
        const of = new Map(users.map((u, i) => [u, covariates[i] ?? 0]));
        for (const e of list) e.covariate = of.get(e.userId) ?? 0;
      }),
    );
  }

  private announce(recorded: readonly RecordedUnitEvent[]): void {
    const listener = this.observe?.recorded;
    if (recorded.length === 0 || !listener) return;
    const byExperiment = new Map<string, Set<string>>();
    for (const e of recorded) {
      let units = byExperiment.get(e.experimentKey);
      if (!units) byExperiment.set(e.experimentKey, (units = new Set()));
      units.add(e.unitId);
    }
    for (const [experimentKey, units] of byExperiment) listener.call(this.observe, { experimentKey, unitIds: [...units] });
  }

  /** Every experiment, as the hot assignment path reads them: cached briefly, one read per period. */
  private allDefinitions(): Promise<Experiment[]> {
    const t = performance.now();
    if (this.definitions && t < this.definitions.until) return this.definitions.all;
    const all = this.stores.experiments.list();
    this.definitions = this.definitionsCacheMs > 0 ? { until: t + this.definitionsCacheMs, all } : null;
    // A failed read is not kept.
    all.catch(() => {
      if (this.definitions?.all === all) this.definitions = null;
    });
    return all;
  }

  async get(key: string): Promise<Experiment | null> {
    const e = await this.stores.experiments.get(key);
    return e && withAnalysis(e);
  }

  async list(status?: ExperimentStatus | null): Promise<Experiment[]> {
    const all = (await this.stores.experiments.list()).map(withAnalysis);
    return all.filter((e) => !status || e.status === status).sort((a, b) => a.createdAt - b.createdAt || (a.key < b.key ? -1 : 1));
  }

  private async mustGet(key: string): Promise<Experiment> {
    const e = await this.get(key);
    if (!e) throw new CodedError('EXPERIMENT_NOT_FOUND', `no experiment with key "${key}"`);
    return e;
  }

  /** Changes how results are analysed (engine, sequential, CUPED, correction, guardrails, minimum data). */
  async setAnalysis(key: string, analysis: Partial<Record<keyof AnalysisSettings, unknown>>): Promise<Experiment> {
    return this.update(key, (e) => ({ ...e, analysis: checkAnalysis(analysis, e.analysis), updatedAt: this.now() }));
  }

  async create(input: ExperimentInput): Promise<Experiment> {
    const e = newExperiment(input, this.now());
    if (!(await this.stores.experiments.create(e))) throw new CodedError('EXPERIMENT_EXISTS', `experiment "${e.key}" already exists`);
    this.definitions = null;
    return e;
  }

  async start(key: string): Promise<Experiment> {
    return this.update(key, (e) => start(e, this.now()));
  }

  async stop(key: string): Promise<Experiment> {
    return this.update(key, (e) => stop(e, this.now()));
  }

  async reweight(key: string, weights: readonly number[], coverage?: number | null): Promise<Experiment> {
    return this.update(key, (e) => reweight(e, weights, coverage, this.now()));
  }

  private async update(key: string, fn: (e: Experiment) => Experiment): Promise<Experiment> {
    const next = fn(await this.mustGet(key));
    await this.stores.experiments.save(next);
    this.definitions = null;
    return next;
  }

  /**
   * Assignments of many users (one request's worth) in the given experiments, or in every running
   * experiment. Users already assigned keep their variant; new assignments are recorded.
   */
  async assignMany(users: readonly UserTraits[], keys?: readonly string[]): Promise<Assignment[][]> {
    const definitions = await this.allDefinitions();
    const all = keys
      ? (await Promise.all(keys.map((k) => definitions.find((e) => e.key === k) ?? this.stores.experiments.get(k)))).filter((e): e is Experiment => e !== null)
      : definitions.filter((e) => e.status === 'RUNNING');
    const pairs = users.flatMap((u) => all.map((e) => [u.userId, e.key] as const));
    const sticky = pairs.length > 0 ? await this.stores.assignments.getMany(pairs) : [];
    let i = 0;
    const out: Assignment[][] = [];
    // New assignments are recorded together (each (user, experiment) pair once per call).
    const recorded: Promise<void>[] = [];
    for (const u of users) {
      const row: Assignment[] = [];
      const audiences = audiencesOf(u.traits);
      for (const e of all) {
        const stuck = sticky[i++];
        if (e.status === 'RUNNING' && stuck && e.variants.some((v) => v.key === stuck)) {
          row.push({ experimentKey: e.key, variant: stuck, inExperiment: true, reason: 'STICKY' });
          continue;
        }
        const a = evaluate(e, u.userId, u.traits);
        if (a.inExperiment) {
          recorded.push(
            this.stores.assignments
              .putIfAbsent(u.userId, e.key, a.variant, e.weightsVersion, { audiences, covariate: u.covariate ?? null })
              .then((variant) => void (a.variant = variant)),
          );
        }
        row.push(a);
      }
      out.push(row);
    }
    await Promise.all(recorded);
    return out;
  }

  /**
   * Validates, verifies and records unit events; valid ones are kept even when others are
   * rejected. With `onlyUserId` (a user's own token) events on rows served to anyone else are
   * rejected as FORBIDDEN, and user limits apply (domain/unit-events.ts). Each event's code says
   * why it was refused; a redelivered event id is a duplicate, not an error.
   */
  async track(raw: readonly Record<string, unknown>[], onlyUserId?: string) {
    checkUnitEventBatch(raw.length);
    const now = this.now();
    const role = onlyUserId === undefined ? 'service' : 'user';
    const rejected: UnitEventRejection[] = [];
    const valid: RecordedUnitEvent[] = [];
    const validIndex: number[] = [];
    const experiments = new Map<string, Experiment | null>();
    let unattributed = 0;
    for (const [index, r] of raw.entries()) {
      const eventId = typeof r['eventId'] === 'string' ? r['eventId'] : null;
      const reject = (code: string, message: string) => rejected.push({ index, eventId, code, message });
      try {
        validateId(r['eventId'], 'eventId', 'EVENT_ID_INVALID', DEFAULT_VALIDATION_LIMITS);
      } catch (err) {
        reject('EVENT_ID_INVALID', (err as Error).message);
        continue;
      }
      const claims = typeof r['impressionId'] === 'string' ? verifyImpression(r['impressionId'], this.impressionSecret) : null;
      if (!claims) {
        reject('IMPRESSION_INVALID', 'impressionId is not a row this platform served (forged, altered or malformed)');
        continue;
      }
      if (onlyUserId !== undefined && claims.userId !== onlyUserId) {
        reject('FORBIDDEN', `a user token can only record events on its own rows (${onlyUserId}); this row was served to another user`);
        continue;
      }
      const checked = checkUnitEvent(r, claims, { now, role, limits: this.unitEventLimits });
      if (!checked.ok) {
        reject(checked.code, checked.message);
        continue;
      }
      if (claims.experimentKey === null || claims.variant === null) {
        unattributed++; // a row served outside any experiment: valid, nothing to measure
        continue;
      }
      if (!experiments.has(claims.experimentKey)) experiments.set(claims.experimentKey, await this.stores.experiments.get(claims.experimentKey));
      const experiment = experiments.get(claims.experimentKey);
      if (!experiment || !experiment.variants.some((v) => v.key === claims.variant)) {
        reject('EXPERIMENT_UNKNOWN', `experiment ${claims.experimentKey} / variant ${claims.variant} does not exist`);
        continue;
      }
      valid.push({
        eventId: eventId!,
        experimentKey: claims.experimentKey,
        variant: claims.variant,
        unitId: claims.unitId,
        userId: claims.userId,
        impressionKey: impressionKey(r['impressionId'] as string),
        expiresAt: checked.expiresAt,
        type: checked.type,
        position: checked.position,
        value: checked.value,
        completed: checked.completed,
        occurredAt: checked.occurredAt,
        covariate: 0, // set from the assignment below
      });
      validIndex.push(index);
    }
    await this.withCovariates(valid);
    const outcomes = valid.length > 0 ? await this.stores.metrics.record(valid) : [];
    this.announce(valid.filter((_, i) => outcomes[i] === 'RECORDED'));
    let accepted = unattributed;
    let duplicates = 0;
    outcomes.forEach((outcome, i) => {
      if (outcome === 'RECORDED') accepted++;
      else if (outcome === 'DUPLICATE') duplicates++;
      else {
        const e = valid[i]!;
        rejected.push({
          index: validIndex[i]!,
          eventId: e.eventId,
          code: 'ALREADY_COUNTED',
          message:
            e.type === 'IMPRESSION'
              ? "this row's exposure is already counted: one IMPRESSION per impression id"
              : `a ${e.type} at position ${e.position} of this row is already counted: each type counts once per served position`,
        });
      }
    });
    rejected.sort((a, b) => a.index - b.index);
    this.observe?.tracked?.(accepted, duplicates, rejected.map((r) => r.code));
    return { accepted, duplicates, rejected };
  }

  async units(key: string): Promise<string[]> {
    return this.stores.metrics.units(key);
  }

  /**
   * Per-variant results and comparisons against control, for one unit (null: all units), and
   * optionally for one cohort: the users who were in `audienceId` when they were assigned, that
   * is before their first exposure, so that membership the treatment caused does not bias the
   * comparison. Cohort results are computed on request from the users' totals.
   */
  async results(key: string, unitId: string | null, audienceId: string | null = null, options: { targetEffect?: number } = {}): Promise<ExperimentResults> {
    if (options.targetEffect !== undefined && !(Number.isFinite(options.targetEffect) && options.targetEffect !== 0 && Math.abs(options.targetEffect) <= 10)) {
      throw new CodedError('BAD_USER_INPUT', 'targetEffect must be a non-zero relative lift, for example 0.05 for +5%');
    }
    if (audienceId !== null && !UNIT_ID.test(audienceId)) throw new CodedError('BAD_USER_INPUT', 'audienceId is not a valid audience id');
    const e = await this.resultsTarget(key, unitId);
    const [aggs, assigned, sinceReweight] = audienceId
      ? await this.cohortResults(key, unitId ?? ALL_UNITS, audienceId)
      : await Promise.all([
          this.stores.metrics.aggregates(key, unitId ?? ALL_UNITS),
          this.stores.assignments.counts(key),
          this.stores.assignments.counts(key, e.weightsVersion),
        ]);
    const agg = (variant: string): VariantAggregate => aggs[variant] ?? emptyAggregate();
    const variants = e.variants.map((v) => {
      const a = agg(v.key);
      return {
        variant: v.key,
        weight: v.weight,
        assignedUsers: assigned[v.key] ?? 0,
        exposedUsers: a.exposedUsers,
        impressions: a.impressions,
        clicks: a.clicks,
        ctr: ratioOf(a.ctr),
        consumptionPerExposedUser: meanOf(a.consumption),
        engagedUserRate: meanOf(a.engaged),
        revenuePerExposedUser: meanOf(a.revenue),
      };
    });
    // Sticky users assigned under earlier weights would skew the SRM check: it counts those since the last re-weight.
    const computed = computeResults({ experiment: e, aggregates: aggs, sinceReweight, now: this.now(), targetEffect: options.targetEffect ?? 0.05 });
    return {
      experimentKey: key,
      unitId,
      audienceId,
      generatedAt: this.now(),
      analysis: e.analysis,
      variants,
      ...computed,
    };
  }

  /** The experiment whose results (of `unitId`) are asked for: BAD_USER_INPUT or EXPERIMENT_NOT_FOUND otherwise. */
  async resultsTarget(key: string, unitId: string | null): Promise<Experiment> {
    if (unitId !== null && !UNIT_ID.test(unitId)) throw new CodedError('BAD_USER_INPUT', 'unitId is not a valid unit id');
    return this.mustGet(key);
  }

  /** Aggregates and assigned counts of one cohort, from its users' totals (SRM: over the cohort). */
  private async cohortResults(key: string, unitId: string, audienceId: string): Promise<[Record<string, VariantAggregate>, Record<string, number>, Record<string, number>]> {
    const cohort = await this.stores.assignments.cohort(key, audienceId);
    const users = [...cohort.keys()];
    const totals = await this.stores.metrics.userTotals(key, unitId, users);
    const aggs: Record<string, VariantAggregate> = {};
    const assigned: Record<string, number> = {};
    users.forEach((userId, i) => {
      const { variant, covariate } = cohort.get(userId)!;
      assigned[variant] = (assigned[variant] ?? 0) + 1;
      const t = totals[i];
      if (t) aggs[variant] = shiftAggregate(aggs[variant] ?? emptyAggregate(), undefined, t, covariate ?? 0);
    });
    return [aggs, assigned, assigned];
  }

}
