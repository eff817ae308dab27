/**
 * Demo users and their past events, relative to `now`, so a fresh `npm start` has profiles with
 * history: a crime binger, a comedy fan, a shopper and a mixed viewer.
 */
import type { ItemRef } from '../lib/contracts/event.js';
import { demoItemRef, episodeId } from './catalog.js';

export interface DemoEvent {
  eventId: string;
  userId: string;
  type: string;
  occurredAt: string;
  item?: ItemRef;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
}

export const DEMO_USERS = [
  { id: 'u1', description: 'crime binger: two episodes of The Harbor Files, crime movies' },
  { id: 'u2', description: 'comedy fan: Flatmates and comedy movies' },
  { id: 'u3', description: 'shopper: audio gear and coffee, one purchase' },
  { id: 'u4', description: 'mixed viewer: sci-fi and documentaries' },
] as const;

const HOUR = 3_600_000;

export function demoHistory(now: number): DemoEvent[] {
  const events: DemoEvent[] = [];
  const add = (userId: string, type: string, itemId: string | null, hoursAgo: number, extra: Partial<DemoEvent> = {}) =>
    events.push({
      eventId: `demo-${userId}-${events.length + 1}`,
      userId,
      type,
      occurredAt: new Date(now - hoursAgo * HOUR).toISOString(),
      ...(itemId ? { item: demoItemRef(itemId) } : {}),
      ...extra,
    });

  add('u1', 'IDENTIFY', null, 400, { traits: { name: 'Alex', plan: 'premium', country: 'SE' } });
  add('u1', 'PLAY', 'm-last-witness', 300);
  add('u1', 'COMPLETE', 'm-last-witness', 298);
  add('u1', 'PLAY', 'm-blind-alley', 200);
  add('u1', 'RATE', 'm-blind-alley', 198, { properties: { rating: 4.5 } });
  add('u1', 'PLAY', episodeId('harbor-files', 1), 50);
  add('u1', 'COMPLETE', episodeId('harbor-files', 1), 49);
  add('u1', 'PLAY', episodeId('harbor-files', 2), 26);
  add('u1', 'VIEW', 'm-laugh-track', 20);

  add('u2', 'IDENTIFY', null, 500, { traits: { name: 'Sam', plan: 'basic', country: 'GB' } });
  add('u2', 'PLAY', episodeId('flatmates', 1), 120);
  add('u2', 'PLAY', episodeId('flatmates', 2), 96);
  add('u2', 'PLAY', 'm-laugh-track', 72);
  add('u2', 'LIKE', 'm-laugh-track', 71);
  add('u2', 'PLAY', 'm-paper-moon-bakery', 30);
  add('u2', 'SKIP', 'm-glass-city', 10);

  add('u3', 'IDENTIFY', null, 600, { traits: { name: 'Kim', plan: 'basic', country: 'DE', marketingOptIn: true } });
  add('u3', 'VIEW', 'p-aurora-headphones', 90);
  add('u3', 'VIEW', 'p-aurora-earbuds', 89);
  add('u3', 'ADD_TO_CART', 'p-aurora-headphones', 88);
  add('u3', 'PURCHASE', 'p-aurora-headphones', 87, { properties: { quantity: 1, price: 199 } });
  add('u3', 'VIEW', 'p-brew-pour-over', 40);
  add('u3', 'VIEW', 'p-brew-grinder', 39);
  add('u3', 'ADD_TO_CART', 'p-brew-grinder', 38);

  add('u4', 'PLAY', 'm-red-horizon', 240);
  add('u4', 'PLAY', episodeId('orbit-nine', 1), 160);
  add('u4', 'PLAY', 'm-river-kings', 100);
  add('u4', 'PLAY', episodeId('deep-blue-atlas', 1), 60);
  add('u4', 'PLAY', episodeId('deep-blue-atlas', 2), 36);
  return events;
}
