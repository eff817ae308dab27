/**
 * Webhook destinations of audiences, against real local HTTP receivers (node:http on 127.0.0.1)
 * that fail on purpose: 500s, a hanging response, a closed connection, a refused port.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AudienceChange } from '../../lib/contracts/audience.js';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import {
  DELIVERY_HEADER,
  DeliveryStoppedError,
  DestinationDelivery,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  deliveryIdOf,
  destinationGroup,
  signBody,
  verifySignature,
} from '../../subgraphs/audiences/src/app/destinations.js';
import type { Destination, DestinationDeliveryOptions, DestinationPayload } from '../../subgraphs/audiences/src/app/destinations.js';
import { MemoryDeliveryStatusStore } from '../../subgraphs/audiences/src/store/destination-status.js';
import { destinationUrlProblem, isPrivateAddress, PRIVATE_DESTINATION, publicOnlyLookup } from '../../subgraphs/audiences/src/app/destination-network.js';
import { until } from '../helpers/wait.js';

interface Request {
  n: number;
  headers: IncomingHttpHeaders;
  raw: string;
  payload: DestinationPayload;
  /** What the receiver did with it. */
  answer: Answer;
}

type Answer = 'ok' | 'fail' | 'hang' | 'close';

/** A webhook receiver whose answer to the n-th request (from 1) is `behaviour(n)`. */
async function receiver(behaviour: (n: number) => Answer) {
  const requests: Request[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const n = requests.length + 1;
      const answer = behaviour(n);
      requests.push({ n, headers: req.headers, raw, payload: JSON.parse(raw) as DestinationPayload, answer });
      if (answer === 'ok') res.writeHead(204).end();
      else if (answer === 'fail') res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      else if (answer === 'close') req.socket.destroy();
      else hanging.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push(server);
  return {
    url: `http://127.0.0.1:${port}/hooks/audiences?token=url-secret-token`,
    requests,
    /** Change ids of the requests answered 2xx. */
    delivered: () => requests.filter((r) => r.answer === 'ok').flatMap((r) => r.payload.changes.map((c) => c.changeId)),
    close: () => {
      for (const res of hanging) res.destroy();
    },
  };
}

const servers: Server[] = [];
const deliveries: DestinationDelivery[] = [];

afterEach(async () => {
  await Promise.all(deliveries.splice(0).map((d) => d.stop()));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

const T0 = Date.now() - 60_000;
let seq = 0;
function change(audienceId: string, userId: string, entered: boolean): AudienceChange {
  seq++;
  return { changeId: `${audienceId}:${userId}:${seq}`, audienceId, userId, entered, at: T0 + seq, reason: 'PROFILE_CHANGED', profileVersion: seq };
}

/** Alternating entered/exited changes for `users` users of `audienceId`, `perUser` each. */
function changes(audienceId: string, users: number, perUser: number): AudienceChange[] {
  const out: AudienceChange[] = [];
  for (let k = 0; k < perUser; k++) for (let u = 0; u < users; u++) out.push(change(audienceId, `user-${u}`, k % 2 === 0));
  return out;
}

function newLog() {
  const errors: unknown[] = [];
  const log = new MemoryEventLog<AudienceChange>({ keys: { orderKey: (c) => c.userId, dedupeKey: (c) => c.changeId }, onError: (err) => errors.push(err) });
  return { log, errors };
}

const SECRET = 'whsec_test_secret_1234567890';
const dest = (id: string, audienceId: string, url: string, secret = SECRET): Destination => ({ id, audienceId, url, secret, createdAt: T0 });

function delivery(options: Partial<DestinationDeliveryOptions> & Pick<DestinationDeliveryOptions, 'log' | 'destinations'>) {
  const errors: unknown[] = [];
  const d = new DestinationDelivery({
    status: new MemoryDeliveryStatusStore(),
    backoff: { initialMs: 5, maxMs: 20, factor: 2, jitter: true },
    requestTimeoutMs: 2000,
    // The receivers here run on this machine (the network policy has its own tests below).
    allowPrivateNetworks: true,
    onError: (err) => errors.push(err),
    ...options,
  });
  deliveries.push(d);
  return Object.assign(d, { errors });
}

const statusOf = async (d: DestinationDelivery, id: string) => (await d.statuses([id]))[0]!;

/** Each user's change ids in the order they were first delivered equal their order in `all`. */
function expectOrderPerUser(deliveredIds: readonly string[], all: readonly AudienceChange[]) {
  const byId = new Map(all.map((c) => [c.changeId, c]));
  const seen = new Set<string>();
  const firstDelivery = new Map<string, string[]>();
  for (const id of deliveredIds) {
    if (seen.has(id)) continue;
    seen.add(id);
    const c = byId.get(id)!;
    (firstDelivery.get(c.userId) ?? firstDelivery.set(c.userId, []).get(c.userId)!).push(id);
  }
  for (const [user, ids] of firstDelivery) expect(ids).toEqual(all.filter((c) => c.userId === user).map((c) => c.changeId));
}

describe('signing', () => {
  it('signs `${timestamp}.${body}` with HMAC-SHA256 and verifies in constant time within a tolerance', () => {
    const body = '{"a":1}';
    const sig = signBody('s3cret', 1_700_000_000_000, body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret', 1_700_000_000_000, body, sig, 60_000, 1_700_000_000_500)).toBe(true);
    expect(verifySignature('s3cret', '1700000000000', body, sig, 60_000, 1_700_000_000_500)).toBe(true);
    expect(verifySignature('other', 1_700_000_000_000, body, sig, 60_000, 1_700_000_000_500)).toBe(false);
    expect(verifySignature('s3cret', 1_700_000_000_000, '{"a":2}', sig, 60_000, 1_700_000_000_500)).toBe(false);
    expect(verifySignature('s3cret', 1_700_000_000_001, body, sig, 60_000, 1_700_000_000_500)).toBe(false);
    expect(verifySignature('s3cret', 1_700_000_000_000, body, sig, 60_000, 1_700_000_100_000)).toBe(false); // stale
    expect(verifySignature('s3cret', 1_700_000_000_000, body, sig.slice(0, -1), 60_000, 1_700_000_000_500)).toBe(false);
    expect(verifySignature('s3cret', 1_700_000_000_000, body, undefined, 60_000, 1_700_000_000_500)).toBe(false);
    expect(verifySignature('s3cret', 'x', body, sig, Infinity)).toBe(false);
  });

  it('a batch has the same delivery id however often it is sent, and another batch another one', () => {
    const a = [change('aud', 'u', true), change('aud', 'u', false)];
    expect(deliveryIdOf('d1', a)).toBe(deliveryIdOf('d1', [...a]));
    expect(deliveryIdOf('d1', a)).not.toBe(deliveryIdOf('d2', a));
    expect(deliveryIdOf('d1', a)).not.toBe(deliveryIdOf('d1', a.slice(0, 1)));
  });
});

describe('DestinationDelivery', () => {
  it('delivers every change of its audience at least once after failures, signed, in batches of at most batchSize, in order per user', async () => {
    let healthy = false;
    const rx = await receiver(() => (healthy ? 'ok' : 'fail'));
    const { log } = newLog();
    const mine = changes('aud-1', 5, 5);
    const others = changes('aud-2', 3, 3);
    await log.append([...mine.slice(0, 10), ...others, ...mine.slice(10)]);
    const d = delivery({ log, destinations: () => [dest('d1', 'aud-1', rx.url)], batchSize: 4 });
    await d.sync();

    // Failing: consecutive failures, the reason, what is held and how late it is.
    await until(async () => (await statusOf(d, 'd1')).failures >= 3, 5000, 'failures to be recorded');
    const failing = await statusOf(d, 'd1');
    expect(failing).toMatchObject({ delivered: 0, lastSuccessAt: null, lastError: 'HTTP 500' });
    expect(failing.totalFailures).toBeGreaterThanOrEqual(3);
    expect(failing.lastFailureAt).not.toBeNull();
    expect(failing.pending).toBe(mine.length);
    expect(failing.lagMs).toBeGreaterThanOrEqual(Date.now() - mine[0]!.at - 1000);
    // Retries of one batch keep its delivery id.
    const ids = new Set(rx.requests.map((r) => r.headers[DELIVERY_HEADER]));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toBe(deliveryIdOf('d1', mine.slice(0, 4)));

    healthy = true;
    await until(() => new Set(rx.delivered()).size === mine.length, 5000, 'every change to be delivered');
    await until(async () => (await statusOf(d, 'd1')).pending === 0, 5000, 'the backlog to be empty');
    const after = await statusOf(d, 'd1');
    expect(after).toMatchObject({ failures: 0, delivered: mine.length, pending: 0, lagMs: 0, lastError: 'HTTP 500' });
    expect(after.totalFailures).toBeGreaterThanOrEqual(failing.totalFailures);
    expect(after.lastSuccessAt).toBeGreaterThanOrEqual(after.lastFailureAt!);

    expect(new Set(rx.delivered())).toEqual(new Set(mine.map((c) => c.changeId)));
    expectOrderPerUser(rx.delivered(), mine);
    for (const r of rx.requests) {
      expect(r.payload.changes.length).toBeGreaterThan(0);
      expect(r.payload.changes.length).toBeLessThanOrEqual(4);
      expect(r.payload).toMatchObject({ destinationId: 'd1', audienceId: 'aud-1' });
      expect(r.payload.changes.every((c) => c.audienceId === 'aud-1')).toBe(true);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toMatch(/audiences/);
      expect(r.headers[DELIVERY_HEADER]).toBe(deliveryIdOf('d1', r.payload.changes));
      const ts = r.headers[TIMESTAMP_HEADER] as string;
      const sig = r.headers[SIGNATURE_HEADER] as string;
      expect(verifySignature(SECRET, ts, r.raw, sig)).toBe(true);
      expect(verifySignature('another-secret', ts, r.raw, sig)).toBe(false);
    }
    const first = rx.requests.find((r) => r.answer === 'ok')!.payload.changes[0]!;
    const original = mine[0]!;
    expect(first).toEqual({
      type: 'AudienceEntered',
      changeId: original.changeId,
      audienceId: 'aud-1',
      userId: original.userId,
      at: new Date(original.at).toISOString(),
      reason: 'PROFILE_CHANGED',
      profileVersion: original.profileVersion,
    });
    expect(rx.requests.flatMap((r) => r.payload.changes).some((c) => c.type === 'AudienceExited')).toBe(true);

    // Later changes follow.
    const more = changes('aud-1', 2, 2);
    await log.append(more);
    await until(() => more.every((c) => rx.delivered().includes(c.changeId)), 5000, 'later changes');
    expect(d.errors).toEqual([]);
  });

  it('a response that never comes is a timeout, then retried', async () => {
    const rx = await receiver((n) => (n <= 2 ? 'hang' : 'ok'));
    const { log } = newLog();
    const mine = changes('aud-1', 2, 2);
    await log.append(mine);
    const d = delivery({ log, destinations: () => [dest('d1', 'aud-1', rx.url)], requestTimeoutMs: 100 });
    await d.sync();
    await until(() => new Set(rx.delivered()).size === mine.length, 5000, 'delivery after the timeouts');
    await until(async () => (await statusOf(d, 'd1')).delivered === mine.length, 5000, 'the status');
    expect(await statusOf(d, 'd1')).toMatchObject({ failures: 0, totalFailures: 2, lastError: 'timeout after 100 ms' });
    rx.close();
  });

  it('a closed connection and a refused port are failures with a short reason that names no secret', async () => {
    const rx = await receiver((n) => (n <= 2 ? 'close' : 'ok'));
    const refused = await receiver(() => 'ok');
    const refusedUrl = refused.url;
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const { log } = newLog();
    await log.append([...changes('aud-1', 2, 1), ...changes('aud-2', 1, 1)]);
    const d = delivery({ log, destinations: () => [dest('d1', 'aud-1', rx.url), dest('d2', 'aud-2', refusedUrl)] });
    await d.sync();
    await until(() => new Set(rx.delivered()).size === 2, 5000, 'delivery after the closed connections');
    // The receiver has the batch before the delivery has the answer and records it.
    await until(async () => (await statusOf(d, 'd1')).delivered === 2, 5000, 'the delivery recorded');
    await until(async () => (await statusOf(d, 'd2')).failures >= 2, 5000, 'refused attempts');
    const [s1, s2] = await d.statuses(['d1', 'd2']);
    expect(s1).toMatchObject({ failures: 0, totalFailures: 2, delivered: 2 });
    expect(s1!.lastError).toMatch(/^(connection closed|ECONNRESET|EPIPE)$/);
    expect(s2).toMatchObject({ delivered: 0, lastError: 'ECONNREFUSED', lastSuccessAt: null });
    for (const s of [s1!, s2!]) {
      expect(s.lastError!.length).toBeLessThanOrEqual(40);
      expect(s.lastError).not.toContain(SECRET);
      expect(s.lastError).not.toContain('url-secret-token');
    }
  });

  it('a failing destination does not delay another one', async () => {
    const broken = await receiver(() => 'fail');
    const fine = await receiver(() => 'ok');
    const { log } = newLog();
    const first = changes('aud-1', 4, 3);
    await log.append(first);
    const d = delivery({
      log,
      // The same audience twice, and a third destination on the broken receiver.
      destinations: () => [dest('broken', 'aud-1', broken.url), dest('fine', 'aud-1', fine.url), dest('broken-2', 'aud-1', broken.url)],
      backoff: { initialMs: 5, maxMs: 5, factor: 1, jitter: false },
    });
    await d.sync();
    await until(() => new Set(fine.delivered()).size === first.length, 5000, 'the healthy destination');
    const later = changes('aud-1', 2, 2);
    await log.append(later);
    await until(() => new Set(fine.delivered()).size === first.length + later.length, 5000, 'the healthy destination to get later changes');
    // The receiver has them before the delivery records its answer: wait for the record.
    await until(async () => (await statusOf(d, 'fine')).delivered === first.length + later.length, 5000, 'the delivery recorded');
    const [b, f] = await d.statuses(['broken', 'fine']);
    expect(b).toMatchObject({ delivered: 0, lastSuccessAt: null, lastError: 'HTTP 500' });
    expect(b!.failures).toBeGreaterThan(0);
    expect(b!.pending).toBeGreaterThan(0);
    expect(f).toMatchObject({ failures: 0, totalFailures: 0, delivered: first.length + later.length });
    expect(broken.requests.length).toBeGreaterThan(1);
  });

  it('stop() during a long backoff, or with a request in flight, resolves promptly and leaves no acknowledged change undelivered', async () => {
    const rx = await receiver(() => 'fail');
    const hang = await receiver(() => 'hang');
    const { log, errors } = newLog();
    await log.append(changes('aud-1', 2, 2));
    const d = delivery({
      log,
      destinations: () => [dest('d1', 'aud-1', rx.url), dest('d2', 'aud-1', hang.url)],
      backoff: { initialMs: 60_000, maxMs: 60_000, factor: 2, jitter: false },
      requestTimeoutMs: 60_000,
    });
    await d.sync();
    await until(async () => (await statusOf(d, 'd1')).failures === 1 && hang.requests.length === 1, 5000, 'a failure and a hanging request');
    const started = Date.now();
    await d.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    // The interrupted batches were not acknowledged: the log was told they failed because of the stop.
    expect(errors.length).toBe(2);
    expect(errors.every((e) => e instanceof DeliveryStoppedError)).toBe(true);
    expect(d.destinationIds()).toEqual([]);
    expect(await statusOf(d, 'd1')).toMatchObject({ delivered: 0, failures: 1 });
    await d.sync(); // stopped for good
    expect(d.destinationIds()).toEqual([]);
    hang.close();
  });

  it('a delivery restarted on the same log loses nothing (redelivery, at least once)', async () => {
    // Accepts two requests, then fails until the delivery is replaced.
    const rx = await receiver((n) => (n <= 2 ? 'ok' : 'fail'));
    const { log } = newLog();
    const all = changes('aud-1', 3, 6);
    await log.append(all);
    const status = new MemoryDeliveryStatusStore();
    const first = delivery({ log, status, destinations: () => [dest('d1', 'aud-1', rx.url)], batchSize: 3 });
    await first.sync();
    await until(async () => (await statusOf(first, 'd1')).failures >= 2, 5000, 'the first delivery to fail');
    await first.stop();
    const beforeRestart = new Set(rx.delivered());
    expect(beforeRestart.size).toBe(6);

    // Changes appended while nothing delivers are not lost either.
    const whileDown = changes('aud-1', 2, 1);
    await log.append(whileDown);
    const rx2 = await receiver(() => 'ok');
    const second = delivery({ log, status, destinations: () => [dest('d1', 'aud-1', rx2.url)], batchSize: 3 });
    await second.sync();
    const everything = [...all, ...whileDown];
    await until(() => everything.every((c) => beforeRestart.has(c.changeId) || rx2.delivered().includes(c.changeId)), 5000, 'everything after the restart');
    expect(new Set([...beforeRestart, ...rx2.delivered()])).toEqual(new Set(everything.map((c) => c.changeId)));
    await until(async () => (await statusOf(second, 'd1')).pending === 0, 5000, 'caught up');
    expect((await statusOf(second, 'd1')).failures).toBe(0);
  });

  it('sync() starts destinations added later (from the oldest retained change), stops removed ones and forgets their status', async () => {
    const rxA = await receiver(() => 'ok');
    const rxB = await receiver(() => 'ok');
    const { log } = newLog();
    const history = changes('aud-1', 3, 2);
    await log.append(history);
    let list: Destination[] = [dest('a', 'aud-1', rxA.url)];
    const d = delivery({ log, destinations: async () => list });
    await d.sync();
    await until(() => new Set(rxA.delivered()).size === history.length, 5000, 'destination a');

    list = [dest('a', 'aud-1', rxA.url), dest('b', 'aud-1', rxB.url)];
    await d.sync();
    expect(d.destinationIds().sort()).toEqual(['a', 'b']);
    await until(() => new Set(rxB.delivered()).size === history.length, 5000, 'destination b to get the retained history');
    expect(rxB.delivered()).toEqual(history.map((c) => c.changeId));

    list = [dest('b', 'aud-1', rxB.url, 'rotated-secret')];
    await d.sync();
    expect(d.destinationIds()).toEqual(['b']);
    expect(await statusOf(d, 'a')).toMatchObject({ delivered: 0, lastSuccessAt: null });
    const next = changes('aud-1', 1, 1);
    await log.append(next);
    await until(() => rxB.delivered().includes(next[0]!.changeId), 5000, 'destination b to get the new change');
    const last = rxB.requests.at(-1)!;
    expect(verifySignature('rotated-secret', last.headers[TIMESTAMP_HEADER] as string, last.raw, last.headers[SIGNATURE_HEADER] as string)).toBe(true);
    expect(rxA.delivered()).not.toContain(next[0]!.changeId);
    expect(destinationGroup('b')).toBe('audience-destination:b');
  });
});

describe('the network policy (no server-side request forgery)', () => {
  it('classifies loopback, private, link-local, NAT and reserved addresses, IPv4-mapped ones included', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false);
    expect(destinationUrlProblem(new URL('http://169.254.169.254/latest/meta-data'))).toBe(PRIVATE_DESTINATION);
    expect(destinationUrlProblem(new URL('http://[::1]:6379/'))).toBe(PRIVATE_DESTINATION);
    expect(destinationUrlProblem(new URL('http://localhost:6379/'))).toBe(PRIVATE_DESTINATION);
    expect(destinationUrlProblem(new URL('https://hooks.example.com/audiences'))).toBeNull();
  });

  it('a name that resolves to a private address is refused when the connection is made (DNS rebinding)', async () => {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => publicOnlyLookup('localhost', {}, (e) => resolve(e)));
    expect(err?.code).toBe('EPRIVATEDESTINATION');
  });

  it('with private networks refused, a delivery never reaches a receiver on this machine, and says why', async () => {
    const rx = await receiver(() => 'ok');
    const { log } = newLog();
    await log.append(changes('aud-1', 1, 1));
    const d = delivery({ log, destinations: () => [dest('d1', 'aud-1', rx.url)], allowPrivateNetworks: false });
    expect(d.urlProblem(new URL(rx.url))).toBe(PRIVATE_DESTINATION);
    await d.sync();
    await until(async () => (await statusOf(d, 'd1')).failures >= 2, 5000, 'refused attempts');
    expect(rx.requests).toHaveLength(0);
    expect((await statusOf(d, 'd1')).lastError).toBe('refused: private address');
  });
});
