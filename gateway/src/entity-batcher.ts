/**
 * Coalesces concurrent `_entities` fetches to one subgraph into a single request. Live updates
 * for many users arrive together, and each needs the same entity query with its own
 * representation; one request with all representations costs the subgraph one pipeline instead
 * of many. Requests are merged only when query text, other variables and the caller (the
 * verified identity) are identical, and only within one turn of the event loop.
 */
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayContext } from './gateway.js';

type Response = Awaited<ReturnType<GraphQLDataSource<GatewayContext>['process']>>;

interface Pending {
  options: GraphQLDataSourceProcessOptions<GatewayContext>;
  representations: unknown[];
  resolve: (r: Response) => void;
  reject: (err: unknown) => void;
}

export class EntityBatcher implements GraphQLDataSource<GatewayContext> {
  private readonly queues = new Map<string, Pending[]>();

  constructor(private readonly source: GraphQLDataSource<GatewayContext>) {}

  process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<Response> {
    const { query, variables } = options.request;
    const representations = (variables as { representations?: unknown } | undefined)?.representations;
    if (!query || !Array.isArray(representations) || !query.includes('_entities')) return this.source.process(options);
    const { representations: _r, ...others } = variables as Record<string, unknown>;
    const caller = 'context' in options ? (options.context as GatewayContext | undefined)?.identityToken ?? '' : '';
    const key = `${query}\u0000${caller}\u0000${JSON.stringify(others)}`;
    return new Promise<Response>((resolve, reject) => {
      let queue = this.queues.get(key);
      if (!queue) {
        this.queues.set(key, (queue = []));
        setImmediate(() => void this.flush(key));
      }
      queue.push({ options, representations, resolve, reject });
    });
  }

  private async flush(key: string): Promise<void> {
    const batch = this.queues.get(key) ?? [];
    this.queues.delete(key);
    if (batch.length === 1) {
      const [only] = batch as [Pending];
      this.source.process(only.options).then(only.resolve, only.reject);
      return;
    }
    const first = batch[0]!;
    const offsets: number[] = [];
    const merged: unknown[] = [];
    for (const p of batch) {
      offsets.push(merged.length);
      merged.push(...p.representations);
    }
    try {
      const response = await this.source.process({
        ...first.options,
        request: { ...first.options.request, variables: { ...first.options.request.variables, representations: merged } },
      });
      const entities = (response.data as { _entities?: unknown[] } | null | undefined)?._entities;
      batch.forEach((p, i) => {
        const start = offsets[i]!;
        const end = start + p.representations.length;
        const errors = response.errors
          ?.filter((e) => {
            const index = e.path?.[0] === '_entities' ? e.path[1] : undefined;
            return typeof index !== 'number' || (index >= start && index < end);
          })
          .map((e) =>
            e.path?.[0] === '_entities' && typeof e.path[1] === 'number' ? { ...e, path: ['_entities', e.path[1] - start, ...e.path.slice(2)] } : e,
          );
        p.resolve({
          ...response,
          data: entities ? { _entities: entities.slice(start, end) } : (response.data ?? null),
          ...(errors?.length ? { errors } : { errors: undefined }),
        } as Response);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
