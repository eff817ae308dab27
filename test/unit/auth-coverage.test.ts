/**
 * Auth fails closed (issue 15): every root field (Query, Mutation, Subscription) and every entity
 * (`__resolveReference`) of each subgraph has a rule in its src/schema/auth-rules.ts, written down
 * even when it is public (publicField). A new root field without one fails here, does not compile
 * (the maps are RuleMap<Resolvers, Ctx> over the generated resolver types) and stops the subgraph
 * from starting (guardResolvers throws in startSubgraphService).
 */
import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { execute, Kind, parse } from 'graphql';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { anyIdentity, guardedFields, guardResolvers, publicField, serviceOnly } from '../../lib/auth.js';
import type { Identity, Rule, RuleMap } from '../../lib/auth.js';
import { EXPERIMENTS_RULES } from '../../subgraphs/experiments/src/schema/auth-rules.js';
import { AUDIENCES_RULES } from '../../subgraphs/audiences/src/schema/auth-rules.js';
import { resolvers as audiencesResolvers } from '../../subgraphs/audiences/src/schema/resolvers.js';
import { resolvers as experimentsResolvers } from '../../subgraphs/experiments/src/schema/resolvers.js';
import type { Resolvers as ProfileResolvers } from '../../subgraphs/profile/src/__generated__/resolvers-types.js';
import { PROFILE_RULES } from '../../subgraphs/profile/src/schema/auth-rules.js';
import type { ProfileContext } from '../../subgraphs/profile/src/schema/context.js';
import { resolvers as profileResolvers } from '../../subgraphs/profile/src/schema/resolvers.js';
import { RECOMMENDATIONS_RULES } from '../../subgraphs/recommendations/src/schema/auth-rules.js';
import { resolvers as recommendationsResolvers } from '../../subgraphs/recommendations/src/schema/resolvers.js';

const SUBGRAPHS: Array<{ name: string; rules: Readonly<Record<string, Rule<never>>>; resolvers: object }> = [
  { name: 'profile', rules: PROFILE_RULES, resolvers: profileResolvers },
  { name: 'recommendations', rules: RECOMMENDATIONS_RULES, resolvers: recommendationsResolvers },
  { name: 'experiments', rules: EXPERIMENTS_RULES, resolvers: experimentsResolvers },
  { name: 'audiences', rules: AUDIENCES_RULES, resolvers: audiencesResolvers },
];

const typeDefsOf = (name: string): DocumentNode => parse(readFileSync(new URL(`../../schema/${name}.graphql`, import.meta.url), 'utf8'));

/**
 * What needs a rule, worked out here from the SDL on its own (not with lib/auth.ts's guardedFields,
 * so a mistake there does not hide one here): the root types' fields, minus the two federation
 * adds, and every type with a @key: buildSubgraphSchema puts `resolvable: false` ones in `_Entity`
 * too, so a caller of the subgraph can reach them through `_entities`.
 */
function needingRules(typeDefs: DocumentNode): string[] {
  const schema = buildSubgraphSchema({ typeDefs });
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()];
  const fields = roots.flatMap((root) =>
    root ? Object.keys(root.getFields()).filter((f) => f !== '_service' && f !== '_entities').map((f) => `${root.name}.${f}`) : [],
  );
  const entities = new Set<string>();
  for (const def of typeDefs.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    if ((def.directives ?? []).some((d) => d.name.value === 'key')) entities.add(`${def.name.value}.__resolveReference`);
  }
  return [...fields, ...entities].sort();
}

describe.each(SUBGRAPHS)('the $name subgraph: every root field and entity has an auth rule', ({ name, rules, resolvers }) => {
  const typeDefs = typeDefsOf(name);
  const required = needingRules(typeDefs);

  it('has root fields and entities to guard (the schema was read)', () => {
    expect(required.some((p) => p.startsWith('Query.'))).toBe(true);
    expect(required.some((p) => p.endsWith('.__resolveReference'))).toBe(true);
  });

  it('has a rule for each root field and entity', () => {
    const missing = required.filter((path) => typeof rules[path] !== 'function');
    expect(missing, `no rule in subgraphs/${name}/src/schema/auth-rules.ts for ${missing.join(', ')}`).toEqual([]);
  });

  it('has no rule for a field the schema does not have', () => {
    // Rules on object fields (what a member may not see of an audience) must name real fields too.
    const fields = new Set(
      typeDefs.definitions.flatMap((d) => (d.kind === Kind.OBJECT_TYPE_DEFINITION ? (d.fields ?? []).map((f) => `${d.name.value}.${f.name.value}`) : [])),
    );
    const stale = Object.keys(rules).filter((path) => !required.includes(path) && !fields.has(path));
    expect(stale, `rules for fields schema/${name}.graphql does not have: ${stale.join(', ')}`).toEqual([]);
  });

  it('is checked the same way at startup (guardResolvers accepts its resolvers and rules)', () => {
    const schema = buildSubgraphSchema({ typeDefs });
    expect(guardedFields(schema).sort()).toEqual(required);
    expect(() => guardResolvers(schema, resolvers as Record<string, unknown>, rules)).not.toThrow();
  });
});

// --- guardResolvers itself -------------------------------------------------------------------

type Ctx = { identity: Identity | null };
const USER: Identity = { sub: 'u1', roles: ['user'] };
const SERVICE: Identity = { sub: 'backend', roles: ['service'] };

const SDL = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
  type Query { open: String, closed: String, noResolver: String }
  type Mutation { change: String }
  type Subscription { ticks: String }
  type Thing @key(fields: "id") { id: ID!, name: String }
`);
const RESOLVERS = {
  Query: { open: () => 'open', closed: () => 'closed' },
  Mutation: { change: () => 'changed' },
  Subscription: { ticks: { subscribe: () => (async function* () {})() } },
  Thing: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, name: `thing ${ref.id}` }) },
};
const ALL_RULES: Record<string, Rule<Ctx>> = {
  'Query.open': publicField,
  'Query.closed': serviceOnly('closed'),
  'Query.noResolver': serviceOnly('noResolver'),
  'Mutation.change': anyIdentity,
  'Subscription.ticks': anyIdentity,
  'Thing.__resolveReference': serviceOnly('things'),
};
const shape = () => buildSubgraphSchema({ typeDefs: SDL });
const served = (rules: Record<string, Rule<Ctx>>): GraphQLSchema =>
  buildSubgraphSchema({ typeDefs: SDL, resolvers: guardResolvers(shape(), RESOLVERS, rules) as never });
const run = async (schema: GraphQLSchema, query: string, identity: Identity | null) => {
  const result = await execute({ schema, document: parse(query), contextValue: { identity } });
  return { data: result.data, codes: (result.errors ?? []).map((e) => e.extensions['code']) };
};

describe('guardResolvers fails closed', () => {
  it('refuses to start with a root field or entity that has no rule, naming each', () => {
    const { 'Query.noResolver': _a, 'Subscription.ticks': _b, 'Thing.__resolveReference': _c, ...partial } = ALL_RULES;
    expect(() => guardResolvers(shape(), RESOLVERS, partial)).toThrow(
      /no auth rule for Query\.noResolver, Subscription\.ticks, Thing\.__resolveReference/,
    );
  });

  it('refuses to start with a rule for a field the schema does not have (a typo or a removed field)', () => {
    expect(() => guardResolvers(shape(), RESOLVERS, { ...ALL_RULES, 'Query.closd': anyIdentity })).toThrow(
      /auth rules for fields the schema does not have: Query\.closd/,
    );
  });

  it('needs no rule for the fields federation adds (_service, _entities)', () => {
    expect(guardedFields(shape()).sort()).toEqual(Object.keys(ALL_RULES).sort());
  });

  it('applies each rule, publicField letting anyone through', async () => {
    const schema = served(ALL_RULES);
    expect(await run(schema, '{ open }', null)).toEqual({ data: { open: 'open' }, codes: [] });
    expect((await run(schema, '{ closed }', USER)).codes).toEqual(['FORBIDDEN']);
    expect((await run(schema, '{ closed }', null)).codes).toEqual(['UNAUTHENTICATED']);
    expect(await run(schema, '{ closed }', SERVICE)).toEqual({ data: { closed: 'closed' }, codes: [] });
    expect((await run(schema, 'mutation { change }', null)).codes).toEqual(['UNAUTHENTICATED']);
  });

  it('guards a root field that has no resolver (around the default one)', async () => {
    const schema = served(ALL_RULES);
    expect((await run(schema, '{ noResolver }', USER)).codes).toEqual(['FORBIDDEN']);
    expect(await run(schema, '{ noResolver }', SERVICE)).toEqual({ data: { noResolver: null }, codes: [] });
  });

  it('guards entity references (_entities)', async () => {
    const schema = served(ALL_RULES);
    const query = '{ _entities(representations: [{ __typename: "Thing", id: "7" }]) { ... on Thing { name } } }';
    expect((await run(schema, query, USER)).codes).toEqual(['FORBIDDEN']);
    expect((await run(schema, query, SERVICE)).data).toEqual({ _entities: [{ name: 'thing 7' }] });
  });
});

/**
 * Compile-time checks (`npx tsc -p .`), never called: a rule map is RuleMap<Resolvers, Ctx> over the
 * generated resolver types, so a left-out or misspelt field is a type error.
 */
export function ruleMapTypeChecks(): void {
  type ProfileRules = RuleMap<ProfileResolvers, ProfileContext>;
  const { 'Mutation.deleteUser': _left, ...withoutOne } = PROFILE_RULES;
  // @ts-expect-error a root field without a rule does not compile
  const missing: ProfileRules = withoutOne;
  const typo: ProfileRules = {
    ...PROFILE_RULES,
    // @ts-expect-error a misspelt (or removed) field does not compile
    'Query.usr': anyIdentity,
  };
  void [missing, typo];
}
