/** Embedded in-memory adapters of the experiments stores. */
import type { Experiment } from '../domain/experiment.js';
import { ALL_UNITS, addEvent, emptyAggregate, shiftAggregate, ZERO_TOTALS } from '../domain/metrics.js';
import type { RecordedUnitEvent, UserTotals, VariantAggregate } from '../domain/metrics.js';
import type { AssignmentStore, ExperimentStore, ExperimentStores, UnitMetricsStore } from './ports.js';

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

  async getMany(pairs: ReadonlyArray<readonly [string, string]>) {
    return pairs.map(([user, key]) => this.variants.get(`${key}\u0000${user}`) ?? null);
  }
  async putIfAbsent(userId: string, experimentKey: string, variant: string, weightsVersion: number) {
    const id = `${experimentKey}\u0000${userId}`;
    const existing = this.variants.get(id);
    if (existing !== undefined) return existing;
    this.variants.set(id, variant);
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

export class MemoryUnitMetricsStore implements UnitMetricsStore {
  private readonly seen = new Set<string>();
  private readonly totals = new Map<string, UserTotals>();
  private readonly aggs = new Map<string, VariantAggregate>();
  private readonly unitsByExperiment = new Map<string, Set<string>>();

  async record(events: readonly RecordedUnitEvent[]) {
    return events.map((e) => {
      if (this.seen.has(e.eventId)) return false;
      this.seen.add(e.eventId);
      for (const unit of [e.unitId, ALL_UNITS]) {
        const userKey = `${e.experimentKey}\u0000${unit}\u0000${e.userId}`;
        const before = this.totals.get(userKey);
        // A user's totals belong to the variant of their first event (assignments are sticky).
        const after = addEvent(before ?? ZERO_TOTALS, e);
        this.totals.set(userKey, after);
        const aggKey = `${e.experimentKey}\u0000${unit}\u0000${e.variant}`;
        this.aggs.set(aggKey, shiftAggregate(this.aggs.get(aggKey) ?? emptyAggregate(), before, after));
      }
      let units = this.unitsByExperiment.get(e.experimentKey);
      if (!units) this.unitsByExperiment.set(e.experimentKey, (units = new Set()));
      units.add(e.unitId);
      return true;
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
}

export function createMemoryExperimentStores(): ExperimentStores {
  return {
    experiments: new MemoryExperimentStore(),
    assignments: new MemoryAssignmentStore(),
    metrics: new MemoryUnitMetricsStore(),
    close: async () => {},
  };
}
