/**
 * Demo audiences `npm start` creates before the demo users' events flow in, one of each kind the
 * issue names: a time window over events (crime bingers), trait conditions (premium), a rule
 * that only time makes true (lapsed), and a purchase (headphone buyers).
 */
export const DEMO_AUDIENCES = [
  {
    id: 'crime-bingers',
    name: 'Crime bingers',
    description: '3 or more crime plays or completions in the last 7 days (a window: members exit when it drops their plays)',
    rule: { events: { types: ['PLAY', 'COMPLETE'], genre: 'Crime', within: '7d', gte: 3 } },
  },
  {
    id: 'premium-adults',
    name: 'Premium subscribers',
    description: 'plan is premium, and age (when known) at least 18',
    rule: { traits: { plan: 'premium', $or: [{ age: { $exists: false } }, { age: { $gte: 18 } }] } },
  },
  {
    id: 'lapsed-viewers',
    name: 'Lapsed viewers',
    description: 'nothing for 14 days: users enter with no event, when their inactivity reaches 14 days',
    rule: { inactiveFor: '14d' },
  },
  {
    id: 'headphone-buyers',
    name: 'Headphone buyers',
    description: 'bought the Aurora headphones, or anything in Electronics/Audio in the last 30 days',
    rule: { any: [{ purchased: { sku: 'AUR-HP-100' } }, { purchased: { category: 'Electronics/Audio', within: '30d' } }] },
  },
] as const;

/** Creates the demo audiences that do not exist yet. */
export async function seedDemoAudiences(service: { get(ids: readonly string[]): Promise<unknown[]>; create(input: (typeof DEMO_AUDIENCES)[number]): Promise<unknown> }): Promise<string[]> {
  const existing = await service.get(DEMO_AUDIENCES.map((a) => a.id));
  const missing = DEMO_AUDIENCES.filter((_, i) => !existing[i]);
  for (const a of missing) await service.create(a);
  return DEMO_AUDIENCES.map((a) => a.id);
}
