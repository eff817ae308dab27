/** Storage ports of the experiments service (memory adapters here, Redis with the Redis issue). */
import type { Closable } from '../../../../lib/dispose.js';
import type { Experiment } from '../domain/experiment.js';
import type { RecordedUnitEvent, UserTotals, VariantAggregate } from '../domain/metrics.js';

export interface ExperimentStore {
  get(key: string): Promise<Experiment | null>;
  list(): Promise<Experiment[]>;
  /** Stores a new experiment; false when the key is taken. */
  create(experiment: Experiment): Promise<boolean>;
  /** Replaces an existing experiment. */
  save(experiment: Experiment): Promise<void>;
}

/** What the assignment records of the user as it was before any exposure. */
export interface AssignmentFacts {
  /** The audiences the user was in: its cohorts. */
  audiences: readonly string[];
  /** The pre-exposure covariate for CUPED (the profile's activity before assignment). */
  covariate: number | null;
}

export interface AssignmentStore {
  /** Sticky variants for (userId, experimentKey) pairs, null where none. */
  getMany(pairs: ReadonlyArray<readonly [userId: string, experimentKey: string]>): Promise<(string | null)[]>;
  /**
   * Records the variant unless one is recorded already; returns the recorded variant. New
   * assignments are also counted under `weightsVersion`, and recorded with what was known of the
   * user when assigned, before any exposure (`facts`), in the same step.
   */
  putIfAbsent(userId: string, experimentKey: string, variant: string, weightsVersion: number, facts?: AssignmentFacts): Promise<string>;
  /** The users that were in the audience when assigned, with their variants and covariates. */
  cohort(experimentKey: string, audienceId: string): Promise<Map<string, { variant: string; covariate: number | null }>>;
  /** The users' pre-exposure covariates as recorded with their assignments (null: none recorded). */
  covariates(experimentKey: string, userIds: readonly string[]): Promise<(number | null)[]>;
  /** Assigned users per variant: all of them, or those assigned under one weights version. */
  counts(experimentKey: string, weightsVersion?: number): Promise<Record<string, number>>;
}

/**
 * What became of a unit event: RECORDED; DUPLICATE (its event id was recorded on its row before:
 * a redelivery); ALREADY_COUNTED (its row's slot, see unitEventSlot, was taken by another event).
 */
export type RecordOutcome = 'RECORDED' | 'DUPLICATE' | 'ALREADY_COUNTED';

export interface UnitMetricsStore {
  /**
   * Records events in order. Per row (impressionKey) each event id is recorded once and each slot
   * (unitEventSlot) counted once; both are remembered until the row's expiresAt and forgotten
   * then. Checking them, updating the user's totals and the variant aggregates of the event's unit
   * and of all units happen atomically per event.
   */
  record(events: readonly RecordedUnitEvent[]): Promise<RecordOutcome[]>;
  /** Aggregates per variant for a unit (ALL_UNITS for the experiment as a whole). */
  aggregates(experimentKey: string, unitId: string): Promise<Record<string, VariantAggregate>>;
  /** Unit ids with events for the experiment. */
  units(experimentKey: string): Promise<string[]>;
  /** Users' totals in a unit (ALL_UNITS: all); null for a user with no event there (not exposed). */
  userTotals(experimentKey: string, unitId: string, userIds: readonly string[]): Promise<(UserTotals | null)[]>;
}

export interface ExperimentStores extends Closable {
  experiments: ExperimentStore;
  assignments: AssignmentStore;
  metrics: UnitMetricsStore;
}
