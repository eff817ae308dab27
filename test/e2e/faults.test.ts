/**
 * Faults through the gateway: a subgraph that is down or hangs costs the fields it owns, never
 * the rest of the answer, and never the gateway. Real servers on ephemeral loopback ports: the
 * subgraph is really stopped, and the hanging one is a TCP server that accepts and never answers.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../gateway/src/config.js';
import { startGateway } from '../../gateway/src/gateway.js';
import type { GatewayServer } from '../../gateway/src/gateway.js';
import { startSubgraphs } from '../../platform/platform.js';
import { TEST_ENV, startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

const ROW_QUERY = /* GraphQL */ `
  query ($id: ID!) {
    user(id: $id) { id profile { version } recommendedFor { items { item { title } } } }
  }
`;
const ASSIGNED_ROW_QUERY = /* GraphQL */ `
  query ($id: ID!) {
    user(id: $id) {
      id
      profile { version }
      assignment(experimentKey: "realtime-ranking") { variant }
      recommendedFor { model items { item { title } } }
    }
  }
`;
const PROFILE_QUERY = `query ($id: ID!) { user(id: $id) { id profile { version } } }`;

interface Answer {
  status: number;
  ms: number;
  body: { data?: any; errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }> };
}

async function post(url: string, query: string, variables: Record<string, unknown>): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as Answer['body'];
  return { status: res.status, ms: performance.now() - started, body };
}


const play = (userId: string, n: number) => ({
  eventId: `fault-${userId}-${n}`,
  userId,
  type: 'PLAY',
  occurredAt: new Date().toISOString(),
  item: { id: `m-fault-${n}`, kind: 'MOVIE', title: `Fault ${n}`, genres: ['Crime'] },
});

/**
 * A subgraph fetch that failed in transport is one error for that fetch: it names the subgraph
 * (message and extensions.serviceName) with SUBGRAPH_UNAVAILABLE (refused, reset) or
 * SUBGRAPH_TIMEOUT (no answer within SUBGRAPH_TIMEOUT_MS).
 */
function expectTransportError(answer: Answer, subgraph: string, code: 'SUBGRAPH_UNAVAILABLE' | 'SUBGRAPH_TIMEOUT') {
  expect(answer.body.errors).toHaveLength(1);
  expect(answer.body.errors?.[0]).toMatchObject({
    message: expect.stringContaining(`subgraph "${subgraph}"`),
    extensions: { code, serviceName: subgraph },
  });
}

describe('faults: a subgraph is down', () => {
  let p: TestPlatform;
  const closed = new Set<string>();

  beforeAll(async () => {
    p = await startTestPlatform();
    const seeded = await p.profile.service.ingest([play('fault-user', 1), play('fault-user', 2)]);
    expect(seeded.accepted).toBe(2);
  });
  afterAll(async () => {
    await p?.gateway.close();
    for (const name of ['profile', 'recommendations', 'experiments'] as const) if (!closed.has(name)) await p?.[name].close();
    await p?.backends.close();
  });

  it('recommendations down: HTTP 200, the profile is served, recommendedFor is null with one error for it', async () => {
    // Healthy first: the row is there, so what follows is the outage and nothing else.
    const healthy = await post(p.gatewayUrl, ROW_QUERY, { id: 'fault-user' });
    expect(healthy.body.errors).toBeUndefined();
    expect(healthy.body.data.user.recommendedFor.items.length).toBeGreaterThan(0);
    await p.recommendations.close();
    closed.add('recommendations');

    const answer = await post(p.gatewayUrl, ROW_QUERY, { id: 'fault-user' });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({ user: { id: 'fault-user', profile: { version: 2 }, recommendedFor: null } });
    expectTransportError(answer, 'recommendations', 'SUBGRAPH_UNAVAILABLE');

    // What the recommendations subgraph does not own is still answered without any error.
    const profileOnly = await post(p.gatewayUrl, PROFILE_QUERY, { id: 'fault-user' });
    expect(profileOnly.body).toEqual({ data: { user: { id: 'fault-user', profile: { version: 2 } } } });
  });

  it('experiments down too: the profile is still served; assignment and the row it feeds are null', async () => {
    await p.experiments.close();
    closed.add('experiments');

    const answer = await post(p.gatewayUrl, ASSIGNED_ROW_QUERY, { id: 'fault-user' });
    expect(answer.status).toBe(200);
    // recommendedFor @requires assignments: with experiments gone its fetch is skipped, so the
    // only error is the experiments one.
    expect(answer.body.data).toEqual({ user: { id: 'fault-user', profile: { version: 2 }, assignment: null, recommendedFor: null } });
    expectTransportError(answer, 'experiments', 'SUBGRAPH_UNAVAILABLE');

    const health = await fetch(`${p.gateway.url}/health`);
    expect(health.status).toBe(200);
  });
});

describe('faults: only experiments is down', () => {
  let p: TestPlatform;

  beforeAll(async () => {
    p = await startTestPlatform();
    await p.profile.service.ingest([play('fault-exp', 1)]);
  });
  afterAll(async () => {
    await p?.gateway.close();
    await p?.profile.close();
    await p?.recommendations.close();
    await p?.backends.close();
  });

  it('the profile is served, the assignment is null with one error for it', async () => {
    await p.experiments.close();
    const query = `query ($id: ID!) { user(id: $id) { id profile { version } assignment(experimentKey: "realtime-ranking") { variant } } }`;
    const answer = await post(p.gatewayUrl, query, { id: 'fault-exp' });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({ user: { id: 'fault-exp', profile: { version: 1 }, assignment: null } });
    expectTransportError(answer, 'experiments', 'SUBGRAPH_UNAVAILABLE');
  });
});

describe('faults: a subgraph hangs (accepts, never answers)', () => {
  const TIMEOUT_MS = 500;
  let subgraphs: Awaited<ReturnType<typeof startSubgraphs>>;
  let gateway: GatewayServer;
  let gatewayUrl: string;
  let hang: net.Server;
  const hangSockets = new Set<net.Socket>();
  let hangConnections = 0;

  beforeAll(async () => {
    hang = net.createServer((socket) => {
      hangConnections++;
      hangSockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => hangSockets.delete(socket));
      socket.resume(); // read (and ignore) the request, answer nothing
    });
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const hangUrl = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/graphql`;
    const env = { ...TEST_ENV, PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', AUDIENCES_PORT: '0' };
    subgraphs = await startSubgraphs({ env });
    await subgraphs.profile.service.ingest([play('fault-hang', 1), play('fault-hang', 2), play('fault-hang', 3)]);
    // The config object is what SUBGRAPH_TIMEOUT_MS sets; a small value keeps the test short.
    gateway = await startGateway({
      ...loadGatewayConfig(env),
      subgraphUrls: { ...subgraphs.subgraphUrls, recommendations: hangUrl },
      subgraphTimeoutMs: TIMEOUT_MS,
    });
    gatewayUrl = `${gateway.url}/graphql`;
  });
  afterAll(async () => {
    await gateway?.close();
    await subgraphs?.close();
    for (const socket of hangSockets) socket.destroy();
    await new Promise((resolve) => hang?.close(resolve));
  });

  it('answers within the subgraph timeout with the profile, recommendedFor null and an error', async () => {
    // Five at once: each waits for its own timeout, none waits for another.
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(gatewayUrl, ROW_QUERY, { id: 'fault-hang' })));
    expect(hangConnections).toBeGreaterThan(0); // the gateway did reach the hanging subgraph
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.data).toEqual({ user: { id: 'fault-hang', profile: { version: 3 }, recommendedFor: null } });
      expectTransportError(answer, 'recommendations', 'SUBGRAPH_TIMEOUT');
      // undici checks its timers every 500 ms or so: the answer comes after the timeout, within
      // about one more tick (far below the default SUBGRAPH_TIMEOUT_MS of 10 s).
      expect(answer.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(answer.ms).toBeLessThan(TIMEOUT_MS + 1500);
    }
  });

  it('does not crash: health and queries that avoid the hanging subgraph still answer at once', async () => {
    const health = await fetch(`${gateway.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', service: 'gateway' });
    const profileOnly = await post(gatewayUrl, PROFILE_QUERY, { id: 'fault-hang' });
    expect(profileOnly.body).toEqual({ data: { user: { id: 'fault-hang', profile: { version: 3 } } } });
    expect(profileOnly.ms).toBeLessThan(TIMEOUT_MS);
    // And once more through the timeout, after the earlier requests were cut off.
    const again = await post(gatewayUrl, ROW_QUERY, { id: 'fault-hang' });
    expect(again.body.data.user.profile.version).toBe(3);
    expect(again.body.data.user.recommendedFor).toBeNull();
  });
});
