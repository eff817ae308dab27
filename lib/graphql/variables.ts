/** What a request's variables may not be, over HTTP and graphql-ws alike. */
import { GraphQLError } from 'graphql';
import { inspectJson } from '../json-shape.js';

/** Deepest nesting of objects and arrays accepted in a request's variables. */
const MAX_VARIABLES_DEPTH = 64;

/**
 * Variables nested deeper than JSON.stringify can serialize again, with a key that names a
 * prototype (lib/json-shape.ts; over HTTP the JSON body parser already refuses `__proto__`, over
 * graphql-ws JSON.parse keeps it as an own key), or with a number that is not finite (1e400 reads
 * as Infinity and would reach a subgraph as null): refused, on HTTP and graphql-ws alike.
 */
export function badVariables(variables: unknown): GraphQLError | undefined {
  const problem = inspectJson(variables, MAX_VARIABLES_DEPTH, true);
  if (!problem) return undefined;
  const message =
    problem.kind === 'too-deep'
      ? `variables are nested more than ${MAX_VARIABLES_DEPTH} levels deep`
      : problem.kind === 'non-finite'
        ? `the variable $${problem.path} holds a number that is not finite`
        : `variables must not use the key at $${problem.path}: keys __proto__, constructor and prototype are refused`;
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
