/** Embedded in-memory adapters of the experiments stores. */
import TinyQueue from 'tinyqueue';
import { closable } from '../../../../lib/dispose.js';
import type { Experiment } from '../domain/experiment.js';
import { ALL_UNITS, addEvent, emptyAggregate, shiftAggregate, unitEventSlot, ZERO_TOTALS } from '../domain/metrics.js';
import type { RecordedUnitEvent, UserTotals, VariantAggregate } from '../domain/metrics.js';
import type { AssignmentFacts, AssignmentStore, ExperimentStore, ExperimentStores, RecordOutcome, UnitMetricsStore } from './ports.js';

export class MemoryExperimentStore implements ExperimentStore {
  private readonly experiments = new Map<string, Experiment>();
  async get(key: string) {
    return this.experiments.get(key) ?? null;
  }
  async list() {
    return [...this.experiments.values()];
  }
  async create(experiment: Experiment) {
    if (this.experiments.has(experiment.key)) return false;
    this.experiments.set(experiment.key, experiment);
    return true;
  }
  async save(experiment: Experiment) {
    this.experiments.set(experiment.key, experiment);
  }
}

export class MemoryAssignmentStore implements AssignmentStore {
  private readonly variants = new Map<string, string>();
  private readonly perVariant = new Map<string, Record<string, number>>();
  /** experiment + audience → user → variant, for the users in the audience when assigned. */
  private readonly cohorts = new Map<string, Map<string, string>>();
  /** experiment + user → pre-exposure covariate. */
  private readonly covariateOf = new Map<string, number>();

  async cohort(experimentKey: string, audienceId: string) {
    const members = this.cohorts.get(`${experimentKey}\u0000${audienceId}`) ?? new Map<string, string>();
    return new Map([...members].map(([userId, variant]) => [userId, { variant, covariate: this.covariateOf.get(`${experimentKey}\u0000${userId}`) ?? null }] as const));
  }

  async covariates(experimentKey: string, userIds: readonly string[]) {
    return userIds.map((u) => this.covariateOf.get(`${experimentKey}\u0000${u}`) ?? null);
  }

  async getMany(pairs: ReadonlyArray<readonly [string, string]>) {
    return pairs.map(([user, key]) => this.variants.get(`${key}\u0000${user}`) ?? null);
  }
  async putIfAbsent(userId: string, experimentKey: string, variant: string, weightsVersion: number, facts: AssignmentFacts = { audiences: [], covariate: null }) {
    const id = `${experimentKey}\u0000${userId}`;
    const existing = this.variants.get(id);
    if (existing !== undefined) return existing;
    this.variants.set(id, variant);
    if (facts.covariate !== null) this.covariateOf.set(id, facts.covariate);
    for (const audienceId of facts.audiences) {
      const cohortKey = `${experimentKey}\u0000${audienceId}`;
      let cohort = this.cohorts.get(cohortKey);
      if (!cohort) this.cohorts.set(cohortKey, (cohort = new Map()));
      cohort.set(userId, variant);
    }
    for (const key of [experimentKey, `${experimentKey}\u0000${weightsVersion}`]) {
      const counts = this.perVariant.get(key) ?? {};
      counts[variant] = (counts[variant] ?? 0) + 1;
      this.perVariant.set(key, counts);
    }
    return variant;
  }
  async counts(experimentKey: string, weightsVersion?: number) {
    const key = weightsVersion === undefined ? experimentKey : `${experimentKey}\u0000${weightsVersion}`;
    return { ...(this.perVariant.get(key) ?? {}) };
  }
}

/** What is kept for one served row: its recorded event ids and taken slots, until it expires. */
interface HeldImpression {
  expiresAt: number;
  eventIds: Set<string>;
  slots: Set<string>;
}

/**
 * Held rows that are dropped when they expire: a map plus a min-heap of expiry times, swept on
 * every write, so memory follows the rows still alive (an expired row is also ignored on lookup
 * before it is swept).
 */
class ExpiringImpressions {
  private readonly rows = new Map<string, HeldImpression>();
  private readonly heap = new TinyQueue<{ at: number; key: string }>([], (a, b) => a.at - b.at);
  private eventIds = 0;

  /** The row's held state while it lives. */
  get(key: string, now: number): HeldImpression | undefined {
    const row = this.rows.get(key);
    return row && row.expiresAt > now ? row : undefined;
  }

  /** The row's held state, created (or renewed, after expiry) with this expiry. */
  hold(key: string, expiresAt: number, now: number): HeldImpression {
    let row = this.get(key, now);
    if (!row) {
      this.drop(key);
      row = { expiresAt, eventIds: new Set(), slots: new Set() };
      this.rows.set(key, row);
      this.heap.push({ at: expiresAt, key });
    } else if (expiresAt > row.expiresAt) {
      row.expiresAt = expiresAt;
      this.heap.push({ at: expiresAt, key });
    }
    return row;
  }

  addEventId(row: HeldImpression, eventId: string) {
    row.eventIds.add(eventId);
    this.eventIds++;
  }

  /** Drops every row that has expired by `now`. */
  sweep(now: number) {
    while (this.heap.length > 0 && this.heap.peek()!.at <= now) {
      const { key } = this.heap.pop()!;
      const row = this.rows.get(key);
      if (row && row.expiresAt <= now) this.drop(key);
    }
  }

  size() {
    return { impressions: this.rows.size, eventIds: this.eventIds };
  }

  private drop(key: string) {
    const row = this.rows.get(key);
    if (!row) return;
    this.eventIds -= row.eventIds.size;
    this.rows.delete(key);
  }


}

export class MemoryUnitMetricsStore implements UnitMetricsStore {
  private readonly impressions = new ExpiringImpressions();
  private readonly totals = new Map<string, UserTotals>();
  private readonly aggs = new Map<string, VariantAggregate>();
  private readonly unitsByExperiment = new Map<string, Set<string>>();

  constructor(private readonly now: () => number = Date.now) {}

  async record(events: readonly RecordedUnitEvent[]) {
    const now = this.now();
    this.impressions.sweep(now);
    return events.map((e): RecordOutcome => {
      const rowKey = `${e.experimentKey}\u0000${e.impressionKey}`;
      const held = this.impressions.get(rowKey, now);
      if (held?.eventIds.has(e.eventId)) return 'DUPLICATE';
      const slot = unitEventSlot(e);
      if (held?.slots.has(slot)) return 'ALREADY_COUNTED';
      const row = this.impressions.hold(rowKey, e.expiresAt, now);
      row.slots.add(slot);
      this.impressions.addEventId(row, e.eventId);
      for (const unit of [e.unitId, ALL_UNITS]) {
        const userKey = `${e.experimentKey}\u0000${unit}\u0000${e.userId}`;
        const before = this.totals.get(userKey);
        // A user's totals belong to the variant of their first event (assignments are sticky).
        const after = addEvent(before ?? ZERO_TOTALS, e);
        this.totals.set(userKey, after);
        const aggKey = `${e.experimentKey}\u0000${unit}\u0000${e.variant}`;
        this.aggs.set(aggKey, shiftAggregate(this.aggs.get(aggKey) ?? emptyAggregate(), before, after, e.covariate));
      }
      let units = this.unitsByExperiment.get(e.experimentKey);
      if (!units) this.unitsByExperiment.set(e.experimentKey, (units = new Set()));
      units.add(e.unitId);
      return 'RECORDED';
    });
  }

  async aggregates(experimentKey: string, unitId: string) {
    const out: Record<string, VariantAggregate> = {};
    const prefix = `${experimentKey}\u0000${unitId}\u0000`;
    for (const [key, agg] of this.aggs) if (key.startsWith(prefix)) out[key.slice(prefix.length)] = agg;
    return out;
  }

  async units(experimentKey: string) {
    return [...(this.unitsByExperiment.get(experimentKey) ?? [])].sort();
  }

  async userTotals(experimentKey: string, unitId: string, userIds: readonly string[]) {
    return userIds.map((u) => this.totals.get(`${experimentKey}\u0000${unitId}\u0000${u}`) ?? null);
  }

  /** Rows and event ids held for dedupe and caps (rows still alive, plus expired ones not swept by a write yet). */
  held(): { impressions: number; eventIds: number } {
    return this.impressions.size();
  }

  /** When what is held for a row is forgotten; null when nothing is held for it. */
  expiresAtOf(experimentKey: string, impressionKey: string): number | null {
    return this.impressions.get(`${experimentKey}\u0000${impressionKey}`, this.now())?.expiresAt ?? null;
  }
}

/** The embedded stores; `now` is the clock that expires what is held per impression. */
export function createMemoryExperimentStores(options: { now?: () => number } = {}): ExperimentStores & { metrics: MemoryUnitMetricsStore } {
  return closable({
    experiments: new MemoryExperimentStore(),
    assignments: new MemoryAssignmentStore(),
    metrics: new MemoryUnitMetricsStore(options.now),
    close: async () => {},
  });
}
