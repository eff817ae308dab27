/** Behaviour events the User view sends for an item (through `ingestEvents`, service token). */
import type { CatalogItem } from './queries';

export type ItemAction = 'PLAY' | 'COMPLETE' | 'PURCHASE';

/** What can be done with an item: watch it, or buy it. */
export function actionsFor(item: CatalogItem): ItemAction[] {
  return item.kind === 'PRODUCT' ? ['PURCHASE'] : ['PLAY', 'COMPLETE'];
}

let sequence = 0;

export function eventFor(userId: string, action: ItemAction, item: CatalogItem, now = new Date()) {
  const price = item.metadata?.['price'];
  return {
    // Unique per click: the same click sent twice (a retry) would be a duplicate, not a second play.
    eventId: `console-${now.getTime().toString(36)}-${(++sequence).toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    userId,
    type: action,
    occurredAt: now.toISOString(),
    item: {
      id: item.id,
      kind: item.kind,
      title: item.title,
      genres: item.genres,
      category: item.category,
      sku: item.sku,
      seriesId: item.seriesId,
      episode: item.episode,
      metadata: item.metadata,
    },
    ...(action === 'PURCHASE' ? { properties: { quantity: 1, ...(typeof price === 'number' ? { price } : {}) } } : {}),
  };
}
