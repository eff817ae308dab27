/**
 * Audiences end to end through the gateway: rules over the shared profile (computed traits
 * included), real-time membership, time-driven exits, the live subscription with fields of other
 * subgraphs, experiment targeting on membership, backfill, and the errors of bad rules.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createBackends } from '../../platform/backends.js';
import type { Backends } from '../../platform/backends.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { demoItemRef } from '../../demo/catalog.js';
import { verifySignature } from '../../subgraphs/audiences/src/app/destinations.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { collect } from '../helpers/subscriptions.js';
import { until } from '../helpers/wait.js';

const CREATE = `mutation Create($input: AudienceInput!) {
  createAudience(input: $input) { id name status rule }
}`;
const AUDIENCE = `query Audience($id: ID!) {
  audience(id: $id) { id status size backfill { scanned total } members(first: 10) { totalCount edges { since node { id } } } }
}`;
const MEMBERSHIPS = `query Memberships($id: ID!) { user(id: $id) { id audiences { since audience { id name } } } }`;
const INGEST = `mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted rejected { code message } } }`;
const CHANGES = `subscription Changes($audienceId: ID, $userId: ID) {
  audienceMembershipChanged(audienceId: $audienceId, userId: $userId) {
    entered reason at audience { id } user { id profile { version } assignments { experimentKey } }
  }
}`;

let seq = 0;
const play = (userId: string, itemId: string, occurredAt = Date.now()) => ({
  eventId: `e-${++seq}`,
  userId,
  type: 'PLAY',
  occurredAt: new Date(occurredAt).toISOString(),
  item: demoItemRef(itemId),
});

/** The same scenarios on the embedded stores, on Redis and on Redis Cluster. */
const TARGETS: { name: string; env: () => Record<string, string> | null; target?: ReturnType<typeof redisTargets>[number] }[] = [
  { name: 'embedded stores', env: () => null },
  { name: 'Redis', env: () => ({ REDIS_URL }), target: redisTargets()[0]! },
  { name: 'Redis Cluster', env: () => ({ REDIS_CLUSTER_NODES: inject('redisClusterNodes') }), target: redisTargets()[1]! },
];

describe.each(TARGETS)('audiences through the gateway ($name)', ({ name, env, target }) => {
  let p: TestPlatform;
  let client: Client;
  let backends: Backends | undefined;
  const prefix = freshPrefix();

  let available = true;
  let note = '';
  beforeEach(({ skip }) => {
    if (!available) skip(note);
  });
  beforeAll(async () => {
    if (target && !(await requireTarget(target, (n) => (note = n)))) {
      available = false;
      return;
    }
    const redis = env();
    backends = redis ? createBackends({ ...redis, REDIS_PREFIX: prefix, STREAM_PARTITIONS: '4' }) : undefined;
    p = await startTestPlatform({ ...(backends ? { backends } : {}), env: { SEED_RANKING_EXPERIMENT: 'false' } });
    client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
  });
  afterAll(async () => {
    await client?.dispose();
    await p?.close();
    if (backends) {
      await deleteByPrefix(backends.redis!, prefix);
      await backends.close();
    }
  });

  const memberships = async (id: string): Promise<string[]> => {
    const r = await p.query(MEMBERSHIPS, { id });
    expect(r.errors).toBeUndefined();
    return r.data.user.audiences.map((m: { audience: { id: string } }) => m.audience.id);
  };

  it('a user enters "3+ crime plays in 7 days" on the third play, and a subscriber is told', async () => {
    const created = await p.query(CREATE, {
      input: { id: 'crime-bingers', name: 'Crime bingers', rule: { events: { types: ['PLAY', 'COMPLETE'], genre: 'Crime', within: '7d', gte: 3 } } },
    });
    expect(created.errors).toBeUndefined();
    expect(created.data.createAudience.status).toBe('BUILDING');
    await until(async () => (await p.query(AUDIENCE, { id: 'crime-bingers' })).data.audience.status === 'LIVE', 10_000, 'the backfill');

    const sub = collect(client, CHANGES, { audienceId: 'crime-bingers' });
    const user = 'crime-fan';
    const items = ['m-last-witness', 'm-blind-alley', 'm-dead-drop'];
    // The subscription is live once a first event arrives; wait for the upstream socket first.
    await until(async () => (await p.query(INGEST, { events: [play('warmup', 'm-the-fence')] })).data.ingestEvents.accepted === 1);
    for (const [i, item] of items.entries()) {
      const r = await p.query(INGEST, { events: [play(user, item)] });
      expect(r.data.ingestEvents.accepted).toBe(1);
      if (i < 2) expect(await memberships(user)).toEqual([]);
    }
    await until(async () => (await memberships(user)).includes('crime-bingers'), 5000, 'membership after the third play');
    await sub.until(() => sub.messages.some((m) => m.data?.audienceMembershipChanged?.user?.id === user));
    const message = sub.messages.find((m) => m.data?.audienceMembershipChanged?.user?.id === user).data.audienceMembershipChanged;
    expect(message).toMatchObject({ entered: true, reason: 'PROFILE_CHANGED', audience: { id: 'crime-bingers' } });
    // Fields of other subgraphs, fetched for the message through the gateway.
    expect(message.user.profile.version).toBe(3);
    const size = await p.query(AUDIENCE, { id: 'crime-bingers' });
    expect(size.data.audience.size).toBe(1);
    expect(size.data.audience.members.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([user]);
    sub.unsubscribe();
  });

  it('a user exits a 1-minute window audience when the window drops its event, with no new event', async () => {
    const created = await p.query(CREATE, {
      input: { id: 'minute-watchers', name: 'Played in the last minute', rule: { events: { types: ['PLAY'], within: '1m', gte: 1 } } },
    });
    expect(created.errors).toBeUndefined();
    const user = 'fleeting';
    const sub = collect(client, CHANGES, { userId: user, audienceId: 'minute-watchers' });
    // Played 58.5 s ago: a member now, and out 1.5 s from now.
    const playedAt = Date.now() - 58_500;
    await until(async () => (await p.query(INGEST, { events: [play(user, 'm-the-fence', playedAt)] })).data.ingestEvents.accepted === 1);
    await until(async () => (await memberships(user)).includes('minute-watchers'), 5000, 'entry');
    await until(async () => !(await memberships(user)).includes('minute-watchers'), 10_000, 'the time-driven exit');
    const exitedAt = Date.now();
    expect(exitedAt).toBeGreaterThanOrEqual(playedAt + 60_000);
    await sub.until(() => sub.messages.some((m) => m.data?.audienceMembershipChanged?.entered === false));
    const exit = sub.messages.find((m) => m.data?.audienceMembershipChanged?.entered === false).data.audienceMembershipChanged;
    expect(exit.reason).toBe('TIME');
    // Exact: decided at the due time, not at a later scan.
    expect(Date.parse(exit.at) - (playedAt + 60_000)).toBeLessThan(1000);
    sub.unsubscribe();
  });

  it('an experiment targeted on the audience assigns only its members', async () => {
    const r = await p.query(`mutation Create($input: CreateExperimentInput!) { createExperiment(input: $input) { key } }`, {
      input: {
        key: 'crime-row',
        name: 'Crime row',
        variants: [{ key: 'a', name: 'A', weight: 0.5 }, { key: 'b', name: 'B', weight: 0.5 }],
        condition: { audiences: { $elemMatch: { $eq: 'crime-bingers' } } },
      },
    });
    expect(r.errors).toBeUndefined();
    await p.query(`mutation { startExperiment(key: "crime-row") { status } }`);
    const assignment = `query A($id: ID!) { user(id: $id) { assignment(experimentKey: "crime-row") { inExperiment reason } } }`;
    const member = await p.query(assignment, { id: 'crime-fan' });
    expect(member.data.user.assignment).toMatchObject({ inExperiment: true, reason: 'ASSIGNED' });
    const outsider = await p.query(assignment, { id: 'warmup' });
    expect(outsider.data.user.assignment).toMatchObject({ inExperiment: false, reason: 'NOT_TARGETED' });
  });

  it('backfills a new audience over existing profiles and previews a rule', async () => {
    const created = await p.query(CREATE, { input: { id: 'any-activity', name: 'Active this week', rule: { lastEventWithin: '7d' } } });
    expect(created.errors).toBeUndefined();
    await until(async () => (await p.query(AUDIENCE, { id: 'any-activity' })).data.audience.status === 'LIVE', 10_000, 'the backfill');
    const a = (await p.query(AUDIENCE, { id: 'any-activity' })).data.audience;
    expect(a.backfill.scanned).toBeGreaterThanOrEqual(3);
    expect(a.size).toBe(a.backfill.scanned);
    const preview = await p.query(`mutation { previewAudience(rule: { affinity: { dimension: "genre", key: "Crime", gte: 4 } }) { estimatedSize exact sampled matched sample { id } } }`);
    expect(preview.errors).toBeUndefined();
    expect(preview.data.previewAudience).toMatchObject({ exact: true, matched: 1, estimatedSize: 1, sample: [{ id: 'crime-fan' }] });
  });

  it('delivers entered changes to a webhook destination, signed, retried after a failure', async () => {
    const received: { body: string; signature: string; timestamp: string }[] = [];
    let failures = 1;
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (failures-- > 0) return void res.writeHead(500).end();
        received.push({ body, signature: String(req.headers['x-audience-signature']), timestamp: String(req.headers['x-audience-timestamp']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const secret = 'webhook-secret-0123456789';
      const added = await p.query(`mutation Add($url: String!, $secret: String!) { addAudienceDestination(audienceId: "any-activity", url: $url, secret: $secret) { id url } }`, { url, secret });
      expect(added.errors).toBeUndefined();
      await until(async () => (await p.query(INGEST, { events: [play('hooked', 'm-the-fence')] })).data.ingestEvents.accepted === 1);
      await until(() => received.some((r) => r.body.includes('"hooked"')), 15_000, 'the webhook');
      const delivery = received.find((r) => r.body.includes('"hooked"'))!;
      expect(verifySignature(secret, delivery.timestamp, delivery.body, delivery.signature)).toBe(true);
      expect(verifySignature('another-secret-0123456789', delivery.timestamp, delivery.body, delivery.signature)).toBe(false);
      expect(JSON.parse(delivery.body).changes).toContainEqual(expect.objectContaining({ type: 'AudienceEntered', userId: 'hooked', audienceId: 'any-activity' }));
      const status = await p.query(`query { audience(id: "any-activity") { destinations { url status { delivered totalFailures lastSuccessAt } } } }`);
      const s = status.data.audience.destinations[0].status;
      expect(s.totalFailures).toBeGreaterThanOrEqual(1);
      expect(s.delivered).toBeGreaterThanOrEqual(1);
      expect(s.lastSuccessAt).not.toBeNull();
      const removed = await p.query(`mutation Remove($id: ID!) { removeAudienceDestination(id: $id) }`, { id: added.data.addAudienceDestination.id });
      expect(removed.data.removeAudienceDestination).toBe(true);
    } finally {
      receiver.close();
    }
  });

  it('refuses bad rules naming the node, unknown audiences, cycles and oversized rules', async () => {
    const bad = await p.query(CREATE, { input: { id: 'bad', name: 'Bad', rule: { all: [{ traits: { plan: 'x' } }, { affinity: { dimension: 'mood', key: 'x', gte: 1 } }] } } });
    expect(bad.errors?.[0]?.extensions?.code).toBe('RULE_INVALID');
    expect(bad.errors?.[0]?.message).toContain('$.all[1].affinity.dimension');
    // Each problem as data too, so a client can point at the node without parsing the message.
    const problems = bad.errors?.[0]?.extensions?.problems as { path: string; message: string }[];
    expect(problems.map((q) => q.path)).toContain('$.all[1].affinity.dimension');
    expect(problems.every((q) => typeof q.message === 'string' && q.message.length > 0 && !q.message.includes('$.'))).toBe(true);
    const unknown = await p.query(CREATE, { input: { id: 'bad2', name: 'Bad', rule: { audience: 'nope' } } });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('AUDIENCE_NOT_FOUND');
    await p.query(CREATE, { input: { id: 'cyc-a', name: 'A', rule: { audience: 'crime-bingers' } } });
    await p.query(CREATE, { input: { id: 'cyc-b', name: 'B', rule: { audience: 'cyc-a' } } });
    const cycle = await p.query(`mutation { updateAudience(id: "cyc-a", input: { rule: { audience: "cyc-b" } }) { id } }`);
    expect(cycle.errors?.[0]?.extensions?.code).toBe('AUDIENCE_CYCLE');
    const big = { any: Array.from({ length: 300 }, (_, i) => ({ traits: { [`k${i}`]: i } })) };
    const oversized = await p.query(CREATE, { input: { id: 'big', name: 'Big', rule: big } });
    expect(oversized.errors?.[0]?.extensions?.code).toBe('RULE_INVALID');
    const missing = await p.query(`query { audience(id: "nope") { id } }`);
    expect(missing.data.audience).toBeNull();
    const unknownUpdate = await p.query(`mutation { updateAudience(id: "nope", input: { name: "x" }) { id } }`);
    expect(unknownUpdate.errors?.[0]?.extensions?.code).toBe('AUDIENCE_NOT_FOUND');
    const sub = collect(client, CHANGES, { audienceId: 'nope' });
    await sub.until(() => sub.error() !== undefined || sub.messages.some((m) => m.errors));
    const refused = sub.messages.find((m) => m.errors)?.errors ?? (sub.error() as { extensions?: unknown }[]);
    expect(JSON.stringify(refused)).toContain('AUDIENCE_NOT_FOUND');
  });

  it('a user token reads its own memberships only', async () => {
    const p2 = await startTestPlatform({ env: { AUTH_DISABLED: '0', SEED_RANKING_EXPERIMENT: 'false' }, backends: p.backends });
    try {
      const own = await p2.query(MEMBERSHIPS, { id: 'crime-fan' }, { authorization: `Bearer ${await tokenFor('crime-fan', 'user')}` });
      expect(own.errors).toBeUndefined();
      expect(own.data.user.audiences.map((m: { audience: { id: string } }) => m.audience.id)).toContain('crime-bingers');
      const other = await p2.query(MEMBERSHIPS, { id: 'crime-fan' }, { authorization: `Bearer ${await tokenFor('someone-else', 'user')}` });
      expect(other.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const rule = await p2.query(`query { me { audiences { audience { id rule } } } }`, {}, { authorization: `Bearer ${await tokenFor('crime-fan', 'user')}` });
      expect(rule.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await p2.close();
    }
  });
  it('keeps memberships and pending time-driven exits across a restart (Redis)', async ({ skip }) => {
    if (!backends) return skip(`${name}: the embedded stores live in the process`);
    const user = 'restarter';
    const playedAt = Date.now() - 57_000;
    await until(async () => (await p.query(INGEST, { events: [play(user, 'm-the-fence', playedAt)] })).data.ingestEvents.accepted === 1);
    await until(async () => (await memberships(user)).includes('minute-watchers'), 5000, 'entry');
    // Everything stops; a new platform on the same Redis data takes over.
    await client.dispose();
    await p.close();
    await backends.close();
    backends = createBackends({ ...env()!, REDIS_PREFIX: prefix, STREAM_PARTITIONS: '4' });
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false' } });
    client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    expect(await memberships('crime-fan')).toContain('crime-bingers');
    // The exit due 3 s after the play was scheduled by the old process and fires in the new one.
    await until(async () => !(await memberships(user)).includes('minute-watchers'), 15_000, 'the exit after the restart');
    expect(Date.now()).toBeGreaterThanOrEqual(playedAt + 60_000);
  });
});
