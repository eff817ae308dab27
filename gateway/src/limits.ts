/**
 * Limits on what one GraphQL operation may ask of the graph, checked at the gateway before any
 * subgraph is called: depth, estimated cost, aliases, directives and tokens (GraphQL Armor), for
 * HTTP and graphql-ws alike. Violations are refused with a message naming the limit
 * (GRAPHQL_VALIDATION_FAILED / GRAPHQL_PARSE_FAILED, HTTP 400). Batched HTTP requests (arrays of
 * operations) are refused too.
 */
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ValidationRule } from 'graphql';
import { envInt } from '../../lib/env.js';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
}

export function loadQueryLimits(env: NodeJS.ProcessEnv): QueryLimits {
  return {
    maxDepth: envInt(env, 'GRAPHQL_MAX_DEPTH', 12, 1),
    maxCost: envInt(env, 'GRAPHQL_MAX_COST', 5000, 1),
    maxAliases: envInt(env, 'GRAPHQL_MAX_ALIASES', 15, 0),
    maxDirectives: envInt(env, 'GRAPHQL_MAX_DIRECTIVES', 50, 0),
    maxTokens: envInt(env, 'GRAPHQL_MAX_TOKENS', 2000, 1),
  };
}

export function queryProtection(limits: QueryLimits, production: boolean) {
  const protection = new ApolloArmor({
    maxDepth: { n: limits.maxDepth },
    costLimit: { maxCost: limits.maxCost },
    maxAliases: { n: limits.maxAliases },
    maxDirectives: { n: limits.maxDirectives },
    // Tokens are limited by the parser itself (parseOptions below): a clean GRAPHQL_PARSE_FAILED.
    maxTokens: { enabled: false },
    // "Did you mean …?" suggestions leak the schema when introspection is off.
    blockFieldSuggestion: { enabled: production },
  }).protect();
  return {
    ...protection,
    // The same rules serve graphql-ws operations, which do not pass Apollo Server's pipeline.
    validationRules: protection.validationRules as ValidationRule[],
    parseOptions: { maxTokens: limits.maxTokens },
  };
}
