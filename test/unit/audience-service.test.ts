/**
 * AudienceService over the in-memory stores with an in-process profile source (the graph is
 * tested end to end in test/e2e/audiences.test.ts): stale reads never override newer decisions
 * (a backfill page read before a real-time change, reordered notices), audiences that read
 * another are re-evaluated with it, deletions exit members with events.
 */
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/wait.js';
import type { AudienceChange } from '../../lib/contracts/audience.js';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import type { ProfileUpdated } from '../../lib/pubsub/port.js';
import { AudienceService, DEFAULT_AUDIENCE_OPTIONS } from '../../subgraphs/audiences/src/app/audience-service.js';
import type { AudienceChangeMessage } from '../../subgraphs/audiences/src/app/audience-service.js';
import type { ProfileSource } from '../../subgraphs/audiences/src/app/profile-source.js';
import type { ProfileView } from '../../subgraphs/audiences/src/domain/rules.js';
import { AUDIENCE_CHANGE_KEYS } from '../../subgraphs/audiences/src/server.js';
import { createMemoryAudienceStores } from '../../subgraphs/audiences/src/store/memory.js';

function view(userId: string, version: number, traits: Record<string, unknown>): ProfileView {
  return {
    userId,
    version,
    lastEventAt: Date.now(),
    traits,
    features: { v: 1, userId, version, asOf: Date.now(), halfLifeMs: 1e9, genres: [], categories: [], facets: {}, series: [], consumed: [], recent: [] },
    computed: {},
    asOf: Date.now(),
    skus: [],
  };
}

/** Profiles as the graph would serve them; `hold` makes the next listing page wait. */
class FakeSource {
  readonly profiles = new Map<string, ProfileView>();
  private gate: Promise<void> | null = null;
  private release: (() => void) | null = null;
  private listed: (() => void) | null = null;
  /** Resolves once a listing page has read the profiles (and waits at the gate). */
  pageRead: Promise<void> = new Promise((r) => (this.listed = r));

  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
    this.gate = null;
  }
  /** Every entity fetch, the ids it asked for. */
  readonly fetches: string[][] = [];
  private fetchGate: Promise<void> | null = null;
  private releaseFetches: (() => void) | null = null;
  private fetchWaiting: (() => void) | null = null;
  /** Resolves once an entity fetch waits at the fetch gate. */
  fetchHeld: Promise<void> = new Promise((r) => (this.fetchWaiting = r));
  holdFetches(): void {
    this.fetchGate = new Promise((r) => (this.releaseFetches = r));
  }
  openFetches(): void {
    this.releaseFetches?.();
    this.fetchGate = null;
  }
  async profiles_(ids: readonly string[]) {
    this.fetches.push([...ids]);
    // Read when the graph answers, as the real source does.
    if (this.fetchGate) {
      this.fetchWaiting?.();
      await this.fetchGate;
    }
    return ids.map((id) => this.profiles.get(id) ?? view(id, 0, {}));
  }
  async page(cursor: string | null) {
    if (cursor !== null) return { views: [], cursor: null, total: this.profiles.size };
    const views = [...this.profiles.values()].map((v) => structuredClone(v));
    this.listed?.();
    if (this.gate) await this.gate;
    return { views, cursor: null, total: views.length };
  }
  async ensureTraits() {}
  async definedTraits() {
    return new Set<string>();
  }
  asSource(): ProfileSource {
    return { profiles: (ids: readonly string[]) => this.profiles_(ids), page: (c: string | null) => this.page(c), ensureTraits: () => this.ensureTraits(), definedTraits: () => this.definedTraits() } as unknown as ProfileSource;
  }
}

function setup(options: Partial<typeof DEFAULT_AUDIENCE_OPTIONS> = {}) {
  const stores = createMemoryAudienceStores();
  const source = new FakeSource();
  const changes = new MemoryEventLog<AudienceChange>({ keys: AUDIENCE_CHANGE_KEYS, dedupeTtlMs: 0 });
  const pubsub = new MemoryPubSub<AudienceChangeMessage>((m) => m.topic);
  const emitted: AudienceChange[] = [];
  changes.consume('test', (batch) => void emitted.push(...batch));
  const service = new AudienceService(stores, source.asSource(), { changes, pubsub }, { ...DEFAULT_AUDIENCE_OPTIONS, refreshMs: 0, ...options });
  const notice = (userId: string, version: number): ProfileUpdated => ({ userId, version, cause: 'events', eventIds: [], changed: ['lastEventAt', 'traits', 'version'], at: Date.now() });
  const member = async (userId: string) => (await stores.memberships.of(userId)).map((m) => m.audienceId).sort();
  return { stores, source, service, emitted, notice, member, changes };
}

describe('AudienceService', () => {
  it('a backfill page read before a real-time change does not override it', async () => {
    const { source, service, notice, member } = setup();
    source.profiles.set('u1', view('u1', 1, { plan: 'basic' }));
    source.hold();
    await service.create({ id: 'premium', name: 'Premium', rule: { traits: { plan: 'premium' } } });
    await source.pageRead; // the backfill holds u1 at version 1 (not premium)
    source.profiles.set('u1', view('u1', 2, { plan: 'premium' }));
    await service.handleNotices([notice('u1', 2)]);
    expect(await member('u1')).toEqual(['premium']);
    source.open();
    await service.settled();
    // The backfill's decision read version 1: stale, ignored.
    expect(await member('u1')).toEqual(['premium']);
    expect((await service.get(['premium']))[0]!.status).toBe('LIVE');
    await service.stop();
  });

  it('an older notice after a newer one changes nothing, and a repeated one emits nothing', async () => {
    const { source, service, notice, member, emitted } = setup();
    await service.create({ id: 'premium', name: 'Premium', rule: { traits: { plan: 'premium' } } });
    await service.settled();
    source.profiles.set('u1', view('u1', 5, { plan: 'premium' }));
    await service.handleNotices([notice('u1', 5)]);
    await service.handleNotices([notice('u1', 5)]);
    expect(await member('u1')).toEqual(['premium']);
    expect(emitted.filter((c) => c.userId === 'u1')).toHaveLength(1);
    // The graph answers with an older profile (a lagging replica): the stale decision is ignored.
    source.profiles.set('u1', view('u1', 4, { plan: 'basic' }));
    await service.handleNotices([notice('u1', 4)]);
    expect(await member('u1')).toEqual(['premium']);
    expect(emitted.filter((c) => c.userId === 'u1')).toHaveLength(1);
    await service.stop();
  });

  it('a change the log did not take (a crash after the membership write) is emitted once by the redelivery', async () => {
    const { source, service, notice, member, emitted, changes } = setup();
    await service.create({ id: 'premium', name: 'Premium', rule: { traits: { plan: 'premium' } } });
    await service.settled();
    const append = changes.append.bind(changes);
    let failures = 1;
    changes.append = (entries) => (failures-- > 0 ? Promise.reject(new Error('log down')) : append(entries));
    source.profiles.set('u1', view('u1', 1, { plan: 'premium' }));
    await expect(service.handleNotices([notice('u1', 1)])).rejects.toThrow('log down');
    // The membership is stored; its AudienceEntered is not on the log.
    expect(await member('u1')).toEqual(['premium']);
    expect(emitted.filter((c) => c.userId === 'u1')).toEqual([]);
    // The notice was not acknowledged, so it comes again: the evaluation finds nothing to change,
    // and the change left unsent is emitted, once.
    await service.handleNotices([notice('u1', 1)]);
    await until(() => emitted.some((c) => c.userId === 'u1'));
    await service.handleNotices([notice('u1', 1)]);
    expect(emitted.filter((c) => c.userId === 'u1')).toEqual([expect.objectContaining({ changeId: 'premium:u1:1', audienceId: 'premium', entered: true, reason: 'PROFILE_CHANGED', profileVersion: 1 })]);
    // The same for a deleted user's exits.
    failures = 1;
    const deleted = { ...notice('u1', 0), cause: 'delete' as const };
    await expect(service.handleNotices([deleted])).rejects.toThrow('log down');
    expect(await member('u1')).toEqual([]);
    await service.handleNotices([deleted]);
    await until(() => emitted.some((c) => c.userId === 'u1' && !c.entered));
    expect(emitted.filter((c) => c.userId === 'u1' && !c.entered)).toEqual([expect.objectContaining({ changeId: 'premium:u1:2', reason: 'USER_DELETED' })]);
    await service.stop();
  });

  it('re-evaluates an audience that reads another when that one changes', async () => {
    const { source, service, notice, member } = setup();
    await service.create({ id: 'premium', name: 'Premium', rule: { traits: { plan: 'premium' } } });
    await service.create({ id: 'premium-se', name: 'Premium in SE', rule: { all: [{ audience: 'premium' }, { traits: { country: 'SE' } }] } });
    await service.settled();
    source.profiles.set('u1', view('u1', 1, { plan: 'premium', country: 'SE' }));
    await service.handleNotices([notice('u1', 1)]);
    expect(await member('u1')).toEqual(['premium', 'premium-se']);
    source.profiles.set('u1', view('u1', 2, { plan: 'basic', country: 'SE' }));
    await service.handleNotices([notice('u1', 2)]);
    expect(await member('u1')).toEqual([]);
    await expect(service.delete('premium')).rejects.toMatchObject({ code: 'AUDIENCE_IN_USE' });
    await service.stop();
  });

  it('deleting an audience exits its members with events; deleting a user exits it everywhere', async () => {
    const { source, service, notice, member, emitted, stores } = setup();
    await service.create({ id: 'premium', name: 'Premium', rule: { traits: { plan: 'premium' } } });
    await service.create({ id: 'anyone', name: 'Anyone', rule: { not: { traits: { plan: 'none' } } } });
    await service.settled();
    for (const id of ['u1', 'u2']) source.profiles.set(id, view(id, 1, { plan: 'premium' }));
    await service.handleNotices([notice('u1', 1), notice('u2', 1)]);
    expect(await stores.memberships.size(['premium'])).toEqual([2]);
    expect(await service.delete('premium')).toBe(true);
    expect(await member('u1')).toEqual(['anyone']);
    expect(emitted.filter((c) => c.audienceId === 'premium' && !c.entered).map((c) => c.reason)).toEqual(['AUDIENCE_CHANGED', 'AUDIENCE_CHANGED']);
    await service.handleNotices([{ ...notice('u2', 0), cause: 'delete' }]);
    expect(await member('u2')).toEqual([]);
    expect(emitted.find((c) => c.userId === 'u2' && c.audienceId === 'anyone' && !c.entered)?.reason).toBe('USER_DELETED');
    await service.stop();
  });

  it('when time changes an audience, the audiences that read it follow at once', async () => {
    const { source, service, notice, member } = setup();
    await service.start();
    await service.create({ id: 'recent', name: 'Active in the last 2 s', rule: { lastEventWithin: '2s' } });
    await service.create({ id: 'recent-premium', name: 'Recent and premium', rule: { all: [{ audience: 'recent' }, { traits: { plan: 'premium' } }] } });
    await service.settled();
    source.profiles.set('u1', { ...view('u1', 1, { plan: 'premium' }), lastEventAt: Date.now() - 1800 });
    await service.handleNotices([notice('u1', 1)]);
    expect(await member('u1')).toEqual(['recent', 'recent-premium']);
    // No event: at lastEventAt + 2 s `recent` is due, and `recent-premium` goes with it.
    await until(async () => (await member('u1')).length === 0, 5000, 'the time-driven exits');
    await service.stop();
  });

  it('a rule edited so that time no longer changes it leaves no due time behind', async () => {
    const { source, service, notice, member, stores } = setup();
    await service.start();
    await service.create({ id: 'recent', name: 'Active in the last 2 s', rule: { lastEventWithin: '2s' } });
    await service.settled();
    source.profiles.set('u1', { ...view('u1', 1, { plan: 'premium' }), lastEventAt: Date.now() - 1800 });
    await service.handleNotices([notice('u1', 1)]);
    expect(await member('u1')).toEqual(['recent']);
    expect(await stores.due.next()).not.toBeNull();
    await service.update('recent', { rule: { traits: { plan: 'premium' } } });
    await service.settled();
    // The old due time comes and goes: the pair is dropped, not claimed again every lease period.
    await until(async () => (await stores.due.next()) === null, 5000, 'the stale due pair to go');
    expect(await member('u1')).toEqual(['recent']);
    await service.stop();
  });

  it('an evaluation writes no removal of due times never scheduled; a pair left due goes when it comes due', async () => {
    const { source, service, notice, member, stores } = setup();
    const removals: string[] = [];
    const schedule = stores.due.schedule.bind(stores.due);
    stores.due.schedule = (entries) => {
      for (const e of entries) if (e.at === null) removals.push(`${e.audienceId} ${e.userId}`);
      return schedule(entries);
    };
    await service.start();
    await service.create({ id: 'recent-premium', name: 'Premium, active in the last 1 s', rule: { all: [{ lastEventWithin: '1s' }, { traits: { plan: 'premium' } }] } });
    await service.settled();
    // A user time cannot change (not premium): nothing to schedule, nothing to remove.
    source.profiles.set('u2', view('u2', 1, { plan: 'basic' }));
    await service.handleNotices([notice('u2', 1)]);
    source.profiles.set('u1', view('u1', 1, { plan: 'premium' }));
    await service.handleNotices([notice('u1', 1)]);
    expect(await member('u1')).toEqual(['recent-premium']);
    expect(await stores.due.next()).not.toBeNull();
    // Not premium any more: no due time now, and the one stored is left to come due.
    source.profiles.set('u1', view('u1', 2, { plan: 'basic' }));
    await service.handleNotices([notice('u1', 2)]);
    expect(await member('u1')).toEqual([]);
    expect(removals).toEqual([]);
    // It comes due, is evaluated (nothing changes) and is removed then.
    await until(async () => (await stores.due.next()) === null, 5000, 'the pair left due to go');
    expect(removals).toEqual(['recent-premium u1']);
    expect(await member('u1')).toEqual([]);
    await service.stop();
  });

  it('notices for a user whose evaluation is under way are folded into one more evaluation', async () => {
    // Under load a user's notices arrive faster than its evaluations finish: each evaluation reads
    // the profile as it is then, so the notices waiting behind a running one need one read, not one each.
    const { source, service, notice, member, emitted } = setup({ coalesceMs: 0, evaluationConcurrency: 1 });
    await service.create({ id: 'premium', name: 'Premium', rule: { traits: { plan: 'premium' } } });
    await service.settled();
    source.profiles.set('u1', view('u1', 1, { plan: 'basic' }));
    source.holdFetches();
    const first = service.handleNotices([notice('u1', 1)]);
    await source.fetchHeld;
    const later: Promise<void>[] = [];
    for (let v = 2; v <= 7; v++) {
      source.profiles.set('u1', view('u1', v, { plan: v % 2 === 0 ? 'premium' : 'basic' }));
      later.push(service.handleNotices([notice('u1', v)]));
    }
    // Another user waits behind the page in flight as well, and goes in the same next read.
    source.profiles.set('u2', view('u2', 1, { plan: 'premium' }));
    later.push(service.handleNotices([notice('u2', 1)]));
    source.openFetches();
    await Promise.all([first, ...later]);
    expect(source.fetches).toEqual([['u1'], ['u1', 'u2']]);
    // The last read saw version 7 (basic): u1 is not a member, and never flipped in between.
    expect(await member('u1')).toEqual([]);
    expect(await member('u2')).toEqual(['premium']);
    expect(emitted.filter((c) => c.userId === 'u1')).toEqual([]);
    await service.stop();
  });

  it("a user deleted while its evaluations wait is not put back by them", async () => {
    const { source, service, notice, member, emitted } = setup({ coalesceMs: 0, evaluationConcurrency: 1 });
    await service.create({ id: 'anyone', name: 'Anyone', rule: { not: { traits: { plan: 'none' } } } });
    await service.settled();
    source.profiles.set('u1', view('u1', 1, { plan: 'basic' }));
    source.holdFetches();
    const first = service.handleNotices([notice('u1', 1)]);
    await source.fetchHeld;
    const waiting = service.handleNotices([notice('u1', 2)]);
    const queued = () => (service as unknown as { waiting: Map<string, unknown> }).waiting.size;
    await until(async () => queued() === 1, 5000, 'the second notice to wait for the page under way');
    // The profile is deleted; its notice arrives while the first evaluation is under way.
    source.profiles.delete('u1');
    const deleted = service.handleNotices([{ ...notice('u1', 0), cause: 'delete' }]);
    source.openFetches();
    await Promise.all([first, waiting, deleted]);
    // The evaluation under way lands first, then the delete; the waiting one (it would read an
    // empty profile, which `anyone` matches) is dropped.
    expect(await member('u1')).toEqual([]);
    expect(source.fetches).toEqual([['u1']]);
    expect(emitted.filter((c) => c.userId === 'u1').map((c) => [c.entered, c.reason])).toEqual([
      [true, 'PROFILE_CHANGED'],
      [false, 'USER_DELETED'],
    ]);
    await service.stop();
  });
});
