/**
 * README's GraphQL examples, verbatim, through Apollo Client 4 the way a frontend wires it: a
 * split link (HttpLink for queries and mutations, GraphQLWsLink over graphql-ws for
 * subscriptions) and a normalized cache, on the demo data `npm start` seeds. Every operation in
 * every ```graphql block runs without an error (a block's variables are the ```json block that
 * follows it); each subscription delivers a message when its event happens, over graphql-ws and
 * over Apollo's multipart HTTP transport, and an update changes what a cached query returns.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Kind, parse, print } from 'graphql';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../../platform/demo.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { until } from '../helpers/wait.js';

interface Example {
  /** The operation alone, as README has it. */
  document: DocumentNode;
  name: string;
  kind: OperationDefinitionNode['operation'];
  variables?: Record<string, unknown>;
}

/** Every operation of README's ```graphql blocks, in order, with the ```json variables after a block. */
function readmeExamples(): Example[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/^( *)```(graphql|json)\n([\s\S]*?)^\1```/gm)].map((m) => ({ lang: m[2]!, text: m[3]!.replace(new RegExp(`^${m[1]}`, 'gm'), '') }));
  const examples: Example[] = [];
  blocks.forEach((block, i) => {
    if (block.lang !== 'graphql') return;
    const next = blocks[i + 1];
    const variables = next?.lang === 'json' ? (JSON.parse(next.text) as Record<string, unknown>) : undefined;
    const doc = parse(block.text);
    for (const def of doc.definitions) {
      if (def.kind !== Kind.OPERATION_DEFINITION) continue;
      // The next JSON block is this operation's variables when it names exactly those.
      const declared = (def.variableDefinitions ?? []).map((v) => v.variable.name.value).sort();
      const given = variables ? Object.keys(variables).sort() : [];
      examples.push({
        document: { kind: Kind.DOCUMENT, definitions: [def] },
        name: def.name?.value ?? `${def.operation} at README block ${examples.length + 1}`,
        kind: def.operation,
        ...(declared.length > 0 && declared.join() === given.join() ? { variables } : {}),
      });
    }
  });
  return examples;
}

describe('README examples through Apollo Client (split link: HTTP + graphql-ws)', () => {
  let p: TestPlatform;
  let service: string;
  let webhook: ReturnType<typeof createServer>;
  let webhookUrl: string;
  let seq = 0;
  const examples = readmeExamples();

  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    await seedDemoData(p);
    service = await tokenFor('readme-backend', 'service');
    // AddDestination's receiver.
    webhook = createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await p?.close();
    await new Promise((resolve) => webhook?.close(resolve));
  });

  /** What README's prose says to fill in where an operation's variables have no ```json block. */
  const fillIns = (): Record<string, Record<string, unknown>> => ({
    Audience: { id: 'crime-regulars' },
    Preview: { rule: { events: { types: ['PLAY'], genre: 'Crime', within: '7d', gte: 3 } } },
    AddDestination: { audienceId: 'crime-regulars', url: webhookUrl, secret: 'readme-example-secret-0123' },
  });

  /** Apollo Client as README's "Live updates" wires it: one link for HTTP, one for graphql-ws. */
  function splitClient(token: string) {
    const http = new HttpLink({ uri: p.gatewayUrl, headers: { authorization: `Bearer ${token}` } });
    const ws = new GraphQLWsLink(createClient({ url: p.gatewayUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 }));
    const link = ApolloLink.split(({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === Kind.OPERATION_DEFINITION && def.operation === 'subscription';
    }, ws, http);
    return new ApolloClient({ link, cache: new InMemoryCache() });
  }
  /** The same with a plain HttpLink: subscriptions go over Apollo's multipart protocol. */
  const httpClient = (token: string) => new ApolloClient({ link: new HttpLink({ uri: p.gatewayUrl, headers: { authorization: `Bearer ${token}` } }), cache: new InMemoryCache() });

  const ingest = (events: Record<string, unknown>[]) =>
    p.query('mutation Seed($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted rejected { code } } }', { events }, { authorization: `Bearer ${service}` });
  const crimePlay = (userId: string, itemId: string) => ({ eventId: `readme-${++seq}`, userId, type: 'PLAY', occurredAt: new Date().toISOString(), item: { id: itemId, kind: 'MOVIE', title: itemId, genres: ['Crime'] } });

  /** What makes each README subscription deliver: an event for its user, or three crime plays. */
  function trigger(example: Example): () => Promise<unknown> {
    const text = print(example.document);
    if (text.includes('profileUpdated')) return () => ingest([crimePlay('alice', 'm-dead-drop')]);
    if (text.includes('audienceMembershipChanged')) {
      return async () => {
        const user = `readme-binger-${++seq}`;
        return ingest(['m-last-witness', 'm-blind-alley', 'm-dead-drop'].map((item) => crimePlay(user, item)));
      };
    }
    throw new Error(`no trigger for README subscription ${example.name}`);
  }

  it('README has the examples this test expects', () => {
    const kinds = examples.map((e) => e.kind);
    expect(kinds.filter((k) => k === 'query').length).toBeGreaterThanOrEqual(8);
    expect(kinds.filter((k) => k === 'mutation').length).toBeGreaterThanOrEqual(6);
    expect(kinds.filter((k) => k === 'subscription').length).toBeGreaterThanOrEqual(2);
  });

  it('every query and mutation runs without errors, in README order', async () => {
    const client = splitClient(service);
    try {
      for (const example of examples.filter((e) => e.kind !== 'subscription')) {
        const variables = example.variables ?? fillIns()[example.name];
        const result =
          example.kind === 'query'
            ? await client.query({ query: example.document, ...(variables ? { variables } : {}), fetchPolicy: 'network-only', errorPolicy: 'all' })
            : await client.mutate({ mutation: example.document, ...(variables ? { variables } : {}), errorPolicy: 'all' });
        expect(result.error, `${example.name}: ${result.error?.message}`).toBeUndefined();
        expect(result.data, example.name).toBeTruthy();
      }
    } finally {
      client.stop();
    }
  });

  for (const transport of ['graphql-ws', 'multipart'] as const) {
    it(`every subscription delivers over ${transport}, and the update reaches the cached query`, async () => {
      const client = transport === 'graphql-ws' ? splitClient(service) : httpClient(service);
      const row = gql`query AliceRow { user(id: "alice") { id recommendedFor(limit: 5) { items { item { title } reasons } } } }`;
      try {
        await client.query({ query: row });
        for (const example of examples.filter((e) => e.kind === 'subscription')) {
          const messages: any[] = [];
          let error: unknown;
          const sub = client.subscribe({ query: example.document }).subscribe({
            next: (r) => (r.error ? (error = r.error) : messages.push(r.data)),
            error: (e) => (error = e),
          });
          try {
            const fire = trigger(example);
            await until(async () => {
              await fire();
              return messages.length > 0 || error !== undefined;
            }, 15_000, `a message of ${example.name} over ${transport}`);
            expect(error, String(error)).toBeUndefined();
            if (print(example.document).includes('profileUpdated')) {
              // Normalized into User:alice: the cached row is the one the update carried.
              const pushed = messages.at(-1).profileUpdated.user.recommendedFor;
              const cached = client.readQuery<any>({ query: row });
              expect(cached!.user.recommendedFor.items).toEqual(pushed.items);
            }
          } finally {
            sub.unsubscribe();
          }
        }
      } finally {
        client.stop();
      }
    });
  }
});
