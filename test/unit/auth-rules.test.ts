/**
 * The roles are declared twice on purpose (defence in depth): the subgraphs' rules
 * (src/schema/auth-rules.ts) and @requiresScopes in schema/*.graphql, which the gateway enforces
 * before anything is forwarded. They must say the same, or one side lets through what the other
 * was meant to stop.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RequiredScopes } from '../../gateway/src/scopes.js';
import { EXPERIMENTS_RULES } from '../../subgraphs/experiments/src/schema/auth-rules.js';
import { AUDIENCES_RULES } from '../../subgraphs/audiences/src/schema/auth-rules.js';
import { PROFILE_RULES } from '../../subgraphs/profile/src/schema/auth-rules.js';
import { RECOMMENDATIONS_RULES } from '../../subgraphs/recommendations/src/schema/auth-rules.js';

describe('service-only fields: the subgraph rules and the schema agree', () => {
  it('every serviceOnly field carries @requiresScopes([["service"]]) in the supergraph, and no other field does', () => {
    const scopes = new RequiredScopes(readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8'));
    const declared = [...scopes.fields].filter(([, sets]) => sets.length > 0).map(([field, sets]) => [field, sets]);
    const ruled = Object.entries({ ...PROFILE_RULES, ...RECOMMENDATIONS_RULES, ...EXPERIMENTS_RULES, ...AUDIENCES_RULES })
      // Entity references are fetched by the gateway itself, not selected by callers.
      .filter(([field, rule]) => (rule as { role?: string }).role === 'service' && !field.endsWith('.__resolveReference'))
      .map(([field]) => [field, [['service']]]);
    const byField = (a: unknown[], b: unknown[]) => String(a[0]).localeCompare(String(b[0]));
    expect(declared.sort(byField)).toEqual(ruled.sort(byField));
  });
});
