/**
 * Normalized client caches (Apollo Client, urql Graphcache, Relay) merge every object of a type
 * that has an `id` (or `_id`) by that id, across queries and users. So an `id` must mean one object
 * everywhere: entities (their key is global), or types whose ids are globally unique by
 * construction. A per-user view of something else (a user's last event about an item) must not
 * carry one: after reading alice, user u1's cached `ProfileItem:ep-harbor-files-1` lost its title.
 */
import { readFileSync } from 'node:fs';
import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';

/** Types whose `id` is globally unique without being an entity: a destination's id is a UUID. */
const GLOBAL_IDS = new Set(['AudienceDestination']);

describe('cache identity in the supergraph', () => {
  const doc = parse(readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8'));
  const objects = doc.definitions.filter((d) => d.kind === Kind.OBJECT_TYPE_DEFINITION);

  it('only entities (or types with globally unique ids) have an id field', () => {
    const offenders = objects
      .filter((t) => (t.fields ?? []).some((f) => f.name.value === 'id' || f.name.value === '_id'))
      .filter((t) => !(t.directives ?? []).some((d) => d.name.value === 'join__type' && d.arguments?.some((a) => a.name.value === 'key')))
      .map((t) => t.name.value)
      .filter((name) => !GLOBAL_IDS.has(name) && !['Query', 'Mutation', 'Subscription'].includes(name));
    expect(offenders, 'types with an id that can hold different users\' data under one cache key').toEqual([]);
  });

  it('a profile item names its item by itemId and links the catalog entity', () => {
    const item = objects.find((t) => t.name.value === 'ProfileItem')!;
    const fields = (item.fields ?? []).map((f) => f.name.value);
    expect(fields).not.toContain('id');
    expect(fields).toEqual(expect.arrayContaining(['itemId', 'catalogItem']));
  });
});
