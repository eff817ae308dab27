/**
 * Unit-level metrics as running aggregates. Each recorded unit event updates the user's running
 * totals for (experiment, unit) and, through the change in those totals, the variant's sufficient
 * statistics: no metric ever needs the raw events again. Updates are additive, so arrival order
 * does not matter.
 */
import { EMPTY_MEAN, EMPTY_RATIO } from './stats.js';
import type { MeanStats, RatioStats } from './stats.js';

export const UNIT_EVENT_TYPES = ['IMPRESSION', 'CLICK', 'CONSUME', 'PURCHASE'] as const;
export type UnitEventType = (typeof UNIT_EVENT_TYPES)[number];

/** A validated unit event, attributed to an experiment variant through its impression. */
export interface RecordedUnitEvent {
  eventId: string;
  experimentKey: string;
  variant: string;
  unitId: string;
  userId: string;
  /** The served row (lib/contracts/impression.ts impressionKey): event ids and caps are kept per row. */
  impressionKey: string;
  /** When the row's impression id expires (epoch ms); what is kept for the row goes then. */
  expiresAt: number;
  type: UnitEventType;
  /** 1-based position in the row; null for an IMPRESSION that names none. */
  position: number | null;
  /** Seconds consumed (CONSUME) or revenue (PURCHASE). */
  value: number;
  completed: boolean;
  occurredAt: number;
}

/**
 * The slot of its row an event takes: a row has one exposure (IMPRESSION, whatever the position),
 * and each other type counts once per served position. A second event for a taken slot is not
 * counted.
 */
export function unitEventSlot(e: Pick<RecordedUnitEvent, 'type' | 'position'>): string {
  return e.type === 'IMPRESSION' ? 'IMPRESSION' : `${e.type}:${e.position ?? 0}`;
}

/** One user's totals in one unit (or in all units) of an experiment. */
export interface UserTotals {
  impressions: number;
  clicks: number;
  consumption: number;
  completions: number;
  revenue: number;
  engaged: 0 | 1;
}

export interface VariantAggregate {
  exposedUsers: number;
  impressions: number;
  clicks: number;
  completions: number;
  /** Per user: clicks (x) over impressions (y). */
  ctr: RatioStats;
  consumption: MeanStats;
  engaged: MeanStats;
  revenue: MeanStats;
}

export const ZERO_TOTALS: UserTotals = { impressions: 0, clicks: 0, consumption: 0, completions: 0, revenue: 0, engaged: 0 };

export function emptyAggregate(): VariantAggregate {
  return {
    exposedUsers: 0,
    impressions: 0,
    clicks: 0,
    completions: 0,
    ctr: { ...EMPTY_RATIO },
    consumption: { ...EMPTY_MEAN },
    engaged: { ...EMPTY_MEAN },
    revenue: { ...EMPTY_MEAN },
  };
}

export function addEvent(totals: UserTotals, e: Pick<RecordedUnitEvent, 'type' | 'value' | 'completed'>): UserTotals {
  const next = { ...totals };
  switch (e.type) {
    case 'IMPRESSION':
      next.impressions += 1;
      break;
    case 'CLICK':
      next.clicks += 1;
      next.engaged = 1;
      break;
    case 'CONSUME':
      next.consumption += e.value;
      if (e.completed) next.completions += 1;
      next.engaged = 1;
      break;
    case 'PURCHASE':
      next.revenue += e.value;
      next.engaged = 1;
      break;
  }
  return next;
}

function shiftMean(s: MeanStats, before: number, after: number, newUser: boolean): MeanStats {
  return { n: s.n + (newUser ? 1 : 0), sum: s.sum + after - before, sumSq: s.sumSq + after * after - before * before };
}

/**
 * The aggregate after one user's totals moved from `before` (undefined: the user's first event in
 * this unit, which is their exposure) to `after`.
 */
export function shiftAggregate(agg: VariantAggregate, before: UserTotals | undefined, after: UserTotals): VariantAggregate {
  const newUser = before === undefined;
  const b = before ?? ZERO_TOTALS;
  return {
    exposedUsers: agg.exposedUsers + (newUser ? 1 : 0),
    impressions: agg.impressions + after.impressions - b.impressions,
    clicks: agg.clicks + after.clicks - b.clicks,
    completions: agg.completions + after.completions - b.completions,
    ctr: {
      n: agg.ctr.n + (newUser ? 1 : 0),
      sumX: agg.ctr.sumX + after.clicks - b.clicks,
      sumY: agg.ctr.sumY + after.impressions - b.impressions,
      sumX2: agg.ctr.sumX2 + after.clicks ** 2 - b.clicks ** 2,
      sumY2: agg.ctr.sumY2 + after.impressions ** 2 - b.impressions ** 2,
      sumXY: agg.ctr.sumXY + after.clicks * after.impressions - b.clicks * b.impressions,
    },
    consumption: shiftMean(agg.consumption, b.consumption, after.consumption, newUser),
    engaged: shiftMean(agg.engaged, b.engaged, after.engaged, newUser),
    revenue: shiftMean(agg.revenue, b.revenue, after.revenue, newUser),
  };
}

/** Aggregates over all units are kept under this unit id. */
export const ALL_UNITS = '*';
