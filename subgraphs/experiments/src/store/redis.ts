/**
 * Redis adapters of the experiments stores. Everything about one experiment shares the hash tag
 * `{x:<key>}`, so assignment and unit-event scripts touch a single slot on a cluster.
 */
import { closable } from '../../../../lib/dispose.js';
import { readFileSync } from 'node:fs';
import type { Result } from 'ioredis';
import type { RedisClient } from '../../../../lib/redis/connection.js';
import type { Experiment } from '../domain/experiment.js';
import { ALL_UNITS, emptyAggregate, emptySlot, unitEventSlot } from '../domain/metrics.js';
import type { RecordedUnitEvent, UserTotals, VariantAggregate } from '../domain/metrics.js';
import type { AssignmentFacts, AssignmentStore, ExperimentStore, ExperimentStores, RecordOutcome, UnitMetricsStore } from './ports.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), 'utf8');

declare module 'ioredis' {
  interface RedisCommander<Context> {
    experimentAssign(k1: string, k2: string, k3: string, k4: string, user: string, variant: string, cohorts: string): Result<string, Context>;
    recordUnitEvent(
      k1: string, k2: string, k3: string, k4: string, k5: string, k6: string, k7: string,
      eventId: string, user: string, variant: string, type: string, value: string, completed: string, unit: string,
      slot: string, lifetimeMs: string, covariate: string, position: string,
    ): Result<number, Context>;
  }
}

export class ExperimentKeys {
  constructor(private readonly prefix: string) {}
  experiments() {
    return `${this.prefix}experiments`;
  }
  private x(key: string) {
    return `${this.prefix}{x:${key}}`;
  }
  assignments(key: string) {
    return `${this.x(key)}:assign`;
  }
  counts(key: string, weightsVersion?: number) {
    return weightsVersion === undefined ? `${this.x(key)}:counts` : `${this.x(key)}:counts:${weightsVersion}`;
  }
  /** One served row's event ids and taken slots; expires with the row's impression id. */
  impression(key: string, impressionKey: string) {
    return `${this.x(key)}:imp:${impressionKey}`;
  }
  /** The event ids of versions before rows had their own hash: read until it expires. */
  legacySeen(key: string) {
    return `${this.x(key)}:seen`;
  }
  totals(key: string, unit: string) {
    return `${this.x(key)}:totals:${unit}`;
  }
  aggregates(key: string, unit: string) {
    return `${this.x(key)}:agg:${unit}`;
  }
  units(key: string) {
    return `${this.x(key)}:units`;
  }
  /** What each assignment recorded of its user before exposure: variant, audiences, covariate. */
  facts(key: string) {
    return `${this.x(key)}:facts`;
  }
}

export class RedisExperimentStore implements ExperimentStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ExperimentKeys,
  ) {}
  async get(key: string) {
    const doc = await this.redis.hget(this.keys.experiments(), key);
    return doc ? (JSON.parse(doc) as Experiment) : null;
  }
  async list() {
    return (await this.redis.hvals(this.keys.experiments())).map((d) => JSON.parse(d) as Experiment);
  }
  async create(experiment: Experiment) {
    return (await this.redis.hsetnx(this.keys.experiments(), experiment.key, JSON.stringify(experiment))) === 1;
  }
  async save(experiment: Experiment) {
    await this.redis.hset(this.keys.experiments(), experiment.key, JSON.stringify(experiment));
  }
}

export class RedisAssignmentStore implements AssignmentStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ExperimentKeys,
  ) {
    redis.defineCommand('experimentAssign', { numberOfKeys: 4, lua: lua('assign.lua') });
  }
  async getMany(pairs: ReadonlyArray<readonly [string, string]>) {
    return Promise.all(pairs.map(([user, key]) => this.redis.hget(this.keys.assignments(key), user)));
  }
  async putIfAbsent(userId: string, experimentKey: string, variant: string, weightsVersion: number, facts: AssignmentFacts = { audiences: [], covariate: null }) {
    const k = this.keys;
    const known = facts.audiences.length > 0 || facts.covariate !== null;
    const doc = known ? JSON.stringify({ v: variant, a: facts.audiences, ...(facts.covariate !== null ? { c: facts.covariate } : {}) }) : '';
    return this.redis.experimentAssign(k.assignments(experimentKey), k.counts(experimentKey), k.counts(experimentKey, weightsVersion), k.facts(experimentKey), userId, variant, doc);
  }
  async cohort(experimentKey: string, audienceId: string) {
    const out = new Map<string, { variant: string; covariate: number | null }>();
    for (const [userId, doc] of Object.entries(await this.redis.hgetall(this.keys.facts(experimentKey)))) {
      const { v, a, c } = JSON.parse(doc) as { v: string; a: string[]; c?: number };
      if (a.includes(audienceId)) out.set(userId, { variant: v, covariate: c ?? null });
    }
    return out;
  }
  async covariates(experimentKey: string, userIds: readonly string[]) {
    if (userIds.length === 0) return [];
    const docs = await this.redis.hmget(this.keys.facts(experimentKey), ...userIds);
    return docs.map((d) => (d ? ((JSON.parse(d) as { c?: number }).c ?? null) : null));
  }
  async counts(experimentKey: string, weightsVersion?: number) {
    const raw = await this.redis.hgetall(this.keys.counts(experimentKey, weightsVersion));
    return Object.fromEntries(Object.entries(raw).map(([v, n]) => [v, Number(n)]));
  }
}

/** `<variant>|<field>` → aggregates: `impressions`, `ctr.sumX`, `covariate.sum`, `slot.<position>.clicks.sumXY`. */
function parseAggregates(raw: Record<string, string>): Record<string, VariantAggregate> {
  const out: Record<string, VariantAggregate> = {};
  for (const [field, value] of Object.entries(raw)) {
    const bar = field.lastIndexOf('|');
    const variant = field.slice(0, bar);
    const parts = field.slice(bar + 1).split('.');
    const agg = (out[variant] ??= emptyAggregate());
    if (parts[0] === 'slot' && parts.length === 4) {
      const [, position, metric, stat] = parts as [string, string, 'clicks' | 'consumption', 'sumX' | 'sumX2' | 'sumXY'];
      const slot = (agg.slots[position] ??= emptySlot());
      if (metric === 'clicks' || metric === 'consumption') slot[metric][stat] = Number(value);
      continue;
    }
    const [group, stat] = parts as [string, string | undefined];
    const target = agg as unknown as Record<string, number | Record<string, number>>;
    if (stat === undefined) target[group] = Number(value);
    else (target[group] as Record<string, number>)[stat] = Number(value);
  }
  return out;
}

const OUTCOMES: Record<number, RecordOutcome> = { 0: 'DUPLICATE', 1: 'RECORDED', 2: 'ALREADY_COUNTED' };

export class RedisUnitMetricsStore implements UnitMetricsStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ExperimentKeys,
    /** The clock the impressions' remaining lifetimes are computed with. */
    private readonly now: () => number = Date.now,
  ) {
    redis.defineCommand('recordUnitEvent', { numberOfKeys: 7, lua: lua('record-unit-event.lua') });
  }
  async record(events: readonly RecordedUnitEvent[]) {
    const k = this.keys;
    const now = this.now();
    const results = await Promise.all(
      events.map((e) =>
        this.redis.recordUnitEvent(
          k.impression(e.experimentKey, e.impressionKey),
          k.totals(e.experimentKey, e.unitId),
          k.totals(e.experimentKey, ALL_UNITS),
          k.aggregates(e.experimentKey, e.unitId),
          k.aggregates(e.experimentKey, ALL_UNITS),
          k.units(e.experimentKey),
          k.legacySeen(e.experimentKey),
          e.eventId, e.userId, e.variant, e.type, String(e.value), e.completed ? '1' : '0', e.unitId,
          unitEventSlot(e), String(Math.max(1, Math.ceil(e.expiresAt - now))), String(e.covariate), e.position === null ? '' : String(e.position),
        ),
      ),
    );
    return results.map((r) => OUTCOMES[r]!);
  }
  async aggregates(experimentKey: string, unitId: string) {
    return parseAggregates(await this.redis.hgetall(this.keys.aggregates(experimentKey, unitId)));
  }
  async units(experimentKey: string) {
    return (await this.redis.smembers(this.keys.units(experimentKey))).sort();
  }
  async userTotals(experimentKey: string, unitId: string, userIds: readonly string[]) {
    if (userIds.length === 0) return [];
    const docs = await this.redis.hmget(this.keys.totals(experimentKey, unitId), ...userIds);
    return docs.map((d) => (d ? (JSON.parse(d) as UserTotals) : null));
  }
}

export function createRedisExperimentStores(redis: RedisClient, prefix: string, options: { now?: () => number } = {}): ExperimentStores {
  const keys = new ExperimentKeys(prefix);
  return closable({
    experiments: new RedisExperimentStore(redis, keys),
    assignments: new RedisAssignmentStore(redis, keys),
    metrics: new RedisUnitMetricsStore(redis, keys, options.now),
    close: async () => {},
  });
}
