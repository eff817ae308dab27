/** Storage ports of the experiments service (memory adapters here, Redis with the Redis issue). */
import type { Experiment } from '../domain/experiment.js';
import type { RecordedUnitEvent, VariantAggregate } from '../domain/metrics.js';

export interface ExperimentStore {
  get(key: string): Promise<Experiment | null>;
  list(): Promise<Experiment[]>;
  /** Stores a new experiment; false when the key is taken. */
  create(experiment: Experiment): Promise<boolean>;
  /** Replaces an existing experiment. */
  save(experiment: Experiment): Promise<void>;
}

export interface AssignmentStore {
  /** Sticky variants for (userId, experimentKey) pairs, null where none. */
  getMany(pairs: ReadonlyArray<readonly [userId: string, experimentKey: string]>): Promise<(string | null)[]>;
  /**
   * Records the variant unless one is recorded already; returns the recorded variant. New
   * assignments are also counted under `weightsVersion`.
   */
  putIfAbsent(userId: string, experimentKey: string, variant: string, weightsVersion: number): Promise<string>;
  /** Assigned users per variant: all of them, or those assigned under one weights version. */
  counts(experimentKey: string, weightsVersion?: number): Promise<Record<string, number>>;
}

export interface UnitMetricsStore {
  /**
   * Records events: each eventId once (false for duplicates), updating per-user totals and the
   * variant aggregates of the event's unit and of all units atomically.
   */
  record(events: readonly RecordedUnitEvent[]): Promise<boolean[]>;
  /** Aggregates per variant for a unit (ALL_UNITS for the experiment as a whole). */
  aggregates(experimentKey: string, unitId: string): Promise<Record<string, VariantAggregate>>;
  /** Unit ids with events for the experiment. */
  units(experimentKey: string): Promise<string[]>;
}

export interface ExperimentStores {
  experiments: ExperimentStore;
  assignments: AssignmentStore;
  metrics: UnitMetricsStore;
  close(): Promise<void>;
}
