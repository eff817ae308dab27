/** Custom scalars shared by the subgraphs. */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import type { ValueNode } from 'graphql';
import { inspectJson, withoutPrototypeKeys } from './json-shape.js';

/** JSON input is refused when a key names a prototype (lib/json-shape.ts), as a literal or a variable. */
function checkedJson(value: unknown, scalar: string): unknown {
  const problem = inspectJson(value);
  if (problem?.kind === 'prototype-key') {
    throw new GraphQLError(`${scalar} input must not use the key "${problem.key}" (at ${problem.path}): keys __proto__, constructor and prototype are refused`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return value;
}

function literalToJson(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT: {
      const out: Record<string, unknown> = Object.create(null);
      for (const field of node.fields) out[field.name.value] = literalToJson(field.value, variables);
      return out;
    }
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    default:
      throw new GraphQLError(`JSON cannot represent ${node.kind}`, { extensions: { code: 'BAD_USER_INPUT' } });
  }
}

/**
 * A JSON scalar: any JSON value in (keys that name prototypes refused). `cleanOutput`: out without
 * such keys, for values that carry stored client data (traits, written before the rule existed),
 * so it never breaks a read; documents the platform builds itself (RankingFeatures, whose object
 * keys are fixed names and configured facets) go out as they are, without a walk per response.
 */
export const JSONObjectScalar = (name: string, cleanOutput = false) =>
  new GraphQLScalarType({
    name,
    serialize: cleanOutput ? (v) => withoutPrototypeKeys(v) : (v) => v,
    parseValue: (v) => checkedJson(v, name),
    parseLiteral: (node, variables) => checkedJson(literalToJson(node, variables), name),
  });

export const JSONScalar = JSONObjectScalar('JSON', true);

function toIso(value: unknown): string {
  const d = value instanceof Date ? value : new Date(value as string | number);
  if (Number.isNaN(d.getTime())) throw new GraphQLError(`DateTime cannot represent ${String(value)}`);
  return d.toISOString();
}

/**
 * Serializes epoch milliseconds (or dates) as ISO-8601. Inputs pass through as given (string or
 * number) and are validated by the domain, so a bad time in one event of a batch rejects that
 * event only, with its own error code.
 */
export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  serialize: toIso,
  parseValue: (v) => {
    if (typeof v === 'string' || typeof v === 'number') return v;
    throw new GraphQLError('DateTime must be an ISO-8601 string or epoch milliseconds', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  },
  parseLiteral: (node) => {
    if (node.kind === Kind.STRING) return node.value;
    if (node.kind === Kind.INT || node.kind === Kind.FLOAT) return Number(node.value);
    throw new GraphQLError('DateTime must be an ISO-8601 string or epoch milliseconds', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  },
});
