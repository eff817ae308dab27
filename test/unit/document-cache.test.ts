import { buildSchema, GraphQLError } from 'graphql';
import type { ValidationRule } from 'graphql';
import { describe, expect, it } from 'vitest';
import { cachedParse, cachedValidate } from '../../lib/graphql/documents.js';

describe('the shared document caches', () => {
  it('validation is cached per rule set: a document validated without the limits is checked again with them', () => {
    const schema = buildSchema('type Query { a: Int }');
    const document = cachedParse('{ a }');
    const noAliases: ValidationRule = (ctx) => ({ Field: (node) => void (node.alias || ctx.reportError(new GraphQLError('limit'))) });
    expect(cachedValidate(schema, document)).toEqual([]);
    const limits = [noAliases];
    expect(cachedValidate(schema, document, limits).map((e) => e.message)).toEqual(['limit']);
    expect(cachedValidate(schema, document, limits)).toBe(cachedValidate(schema, document, limits));
    expect(cachedValidate(schema, document)).toEqual([]);
  });
});
