import { describe, expect, it } from 'vitest';
import { createInfrastructure } from '../../lib/infrastructure.js';
import { selectExperimentStores } from '../../subgraphs/experiments/src/store/select.js';
import { selectProfileStores } from '../../subgraphs/profile/src/store/select.js';
import { selectCatalogStore } from '../../subgraphs/recommendations/src/store/select.js';

describe('stores and the infrastructure are AsyncDisposable', () => {
  it('`await using` closes them when the block is left', async () => {
    const closed: string[] = [];
    const watch = <T extends { close(): Promise<void> }>(name: string, resource: T): T => {
      const close = resource.close.bind(resource);
      resource.close = async () => {
        closed.push(name);
        await close();
      };
      return resource;
    };
    {
      await using infrastructure = watch('infrastructure', createInfrastructure({}));
      await using profiles = watch('profiles', selectProfileStores({ dedupeTtlMs: 60_000, profileTtlMs: 0, writeCache: 0 }, infrastructure.redis));
      await using catalog = watch('catalog', selectCatalogStore(infrastructure.redis));
      await using experiments = watch('experiments', selectExperimentStores(infrastructure.redis));
      expect([profiles, catalog, experiments].every((r) => typeof r[Symbol.asyncDispose] === 'function')).toBe(true);
    }
    // Disposed in reverse order of declaration.
    expect(closed).toEqual(['experiments', 'catalog', 'profiles', 'infrastructure']);
  });
});
