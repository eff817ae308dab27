/** Event and item types shared by ingestion, the reducer, the replay tool and the simulator. */

export const EVENT_TYPES = [
  'VIEW',
  'PLAY',
  'COMPLETE',
  'CLICK',
  'ADD_TO_CART',
  'REMOVE_FROM_CART',
  'PURCHASE',
  'RATE',
  'LIKE',
  'DISLIKE',
  'SKIP',
  'SEARCH',
  'IDENTIFY',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const ITEM_KINDS = ['MOVIE', 'SERIES', 'EPISODE', 'PRODUCT', 'ARTICLE', 'MUSIC', 'LIVE'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

export type MetadataValue = string | number | boolean | string[];

export interface ItemRef {
  id: string;
  kind: ItemKind;
  title?: string;
  genres: string[];
  category?: string;
  sku?: string;
  seriesId?: string;
  episode?: number;
  metadata?: Record<string, MetadataValue>;
}

/** A metadata facet's values as affinities and filters read them: lists as they are, scalars as text. */
export function facetValues(item: ItemRef, facet: string): string[] {
  const raw = item.metadata?.[facet];
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [String(raw)];
}

/** A validated event. Times are epoch milliseconds. */
export interface ProfileEvent {
  eventId: string;
  userId: string;
  type: EventType;
  occurredAt: number;
  /** When ingestion accepted the event (wall clock); drives freshness. */
  receivedAt?: number;
  item?: ItemRef;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  /** The user id the producer sent the event for, when an alias moved it to another profile. */
  sentAs?: string;
}

/**
 * An event's identity: its id within the user it was sent for (as Amplitude's insert_id), written
 * so that no two (user, id) pairs give the same key. An alias moves an event to the known user's
 * profile, but it stays the same event: the key keeps the user it was sent for. Deduplication on
 * the way in, the profile's remembered ids and its ledger all compare this key.
 */
export function eventKey(event: Pick<ProfileEvent, 'userId' | 'eventId' | 'sentAs'>): string {
  const user = event.sentAs ?? event.userId;
  return `${user.length}:${user}:${event.eventId}`;
}

/** Event types that must reference an item: all but SEARCH and IDENTIFY. */
export const ITEM_EVENT_TYPES: ReadonlySet<EventType> = new Set(EVENT_TYPES.filter((t) => t !== 'SEARCH' && t !== 'IDENTIFY'));

/** Event types after which an item counts as consumed and is not recommended again. */
export const CONSUMING_EVENT_TYPES: ReadonlySet<EventType> = new Set(['PLAY', 'COMPLETE', 'PURCHASE', 'RATE']);

/**
 * What the event log needs to know of a profile event: a user's events stay in order (they are
 * partitioned by user id), and duplicates are per user (eventKey). Shaped as the log's EntryKeys.
 */
export const PROFILE_EVENT_KEYS = Object.freeze({
  orderKey: (e: ProfileEvent): string => e.userId,
  dedupeKey: (e: ProfileEvent): string => eventKey(e),
});
