import { describe, expect, it } from 'vitest';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { EntityBatcher } from '../../gateway/src/entity-batcher.js';
import type { GatewayContext } from '../../gateway/src/gateway.js';

const QUERY = 'query($representations:[_Any!]!){_entities(representations:$representations){...on User{name}}}';

/** A fake subgraph: answers each representation with its id, fails the ones named "bad". */
function fakeSubgraph() {
  const calls: unknown[][] = [];
  const source: GraphQLDataSource<GatewayContext> = {
    process: async (options) => {
      const reps = (options.request.variables as { representations: Array<{ id: string }> }).representations;
      calls.push(reps);
      const errors = reps.flatMap((r, i) => (r.id === 'bad' ? [{ message: `no ${r.id}`, path: ['_entities', i, 'name'] }] : []));
      return {
        data: { _entities: reps.map((r) => (r.id === 'bad' ? null : { name: `user ${r.id}` })) },
        ...(errors.length ? { errors } : {}),
      } as never;
    },
  };
  return { source, calls };
}

const request = (ids: string[], identityToken?: string, query = QUERY) =>
  ({
    request: { query, variables: { representations: ids.map((id) => ({ __typename: 'User', id })) } },
    kind: 'INCOMING_OPERATION',
    context: { requestId: 'r', identity: null, ...(identityToken ? { identityToken } : {}) },
    incomingRequestContext: {},
  }) as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;

describe('EntityBatcher', () => {
  it('merges concurrent entity fetches into one request and splits the answers', async () => {
    const { source, calls } = fakeSubgraph();
    const batcher = new EntityBatcher(source);
    const [a, b, c] = await Promise.all([batcher.process(request(['1', '2'])), batcher.process(request(['3'])), batcher.process(request(['4', '5']))]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(5);
    expect(a.data).toEqual({ _entities: [{ name: 'user 1' }, { name: 'user 2' }] });
    expect(b.data).toEqual({ _entities: [{ name: 'user 3' }] });
    expect(c.data).toEqual({ _entities: [{ name: 'user 4' }, { name: 'user 5' }] });
  });

  it('hands each error to the request it belongs to, with its own index', async () => {
    const { source } = fakeSubgraph();
    const batcher = new EntityBatcher(source);
    const [a, b] = await Promise.all([batcher.process(request(['1'])), batcher.process(request(['2', 'bad']))]);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toEqual([{ message: 'no bad', path: ['_entities', 1, 'name'] }]);
    expect(b.data).toEqual({ _entities: [{ name: 'user 2' }, null] });
  });

  it('never merges requests of different callers or different queries', async () => {
    const { source, calls } = fakeSubgraph();
    const batcher = new EntityBatcher(source);
    await Promise.all([
      batcher.process(request(['1'], 'Bearer a')),
      batcher.process(request(['2'], 'Bearer b')),
      batcher.process(request(['3'], 'Bearer a', QUERY.replace('name', 'name id'))),
    ]);
    expect(calls).toHaveLength(3);
  });

  it('passes other operations through untouched, and failures to every caller', async () => {
    const { source, calls } = fakeSubgraph();
    const batcher = new EntityBatcher(source);
    await batcher.process({ ...request(['9']), request: { query: '{ __typename }', variables: {} } } as never).catch(() => undefined);
    expect(calls).toHaveLength(1);
    const failing = new EntityBatcher({ process: async () => Promise.reject(new Error('down')) });
    const results = await Promise.allSettled([failing.process(request(['1'])), failing.process(request(['2']))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
