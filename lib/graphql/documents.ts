/** Parsed and validated documents, cached and shared by every operation with the same text. */
import { LRUCache } from 'lru-cache';
import { parse, specifiedRules, validate } from 'graphql';
import type { DocumentNode, GraphQLError, GraphQLSchema, Source, ValidationRule } from 'graphql';

/** Most distinct operation texts whose parsed and validated documents are kept. */
const DOCUMENT_CACHE_SIZE = 500;
const documents = new LRUCache<string, DocumentNode>({ max: DOCUMENT_CACHE_SIZE });
/** Validation errors by schema, by the extra rules validated with (the array itself), by document. */
const validations = new WeakMap<GraphQLSchema, WeakMap<readonly ValidationRule[], WeakMap<DocumentNode, readonly GraphQLError[]>>>();
const NO_EXTRA_RULES: readonly ValidationRule[] = [];

/**
 * The parsed document for an operation text: parsed once per text (least recently used texts are
 * dropped), and one document shared by every subscription with that text instead of an AST
 * (tokens and locations) kept per subscription. Syntax errors are thrown, not kept.
 */
export function cachedParse(source: string | Source, maxTokens?: number): DocumentNode {
  const options = maxTokens ? { maxTokens } : undefined;
  if (typeof source !== 'string') return parse(source, options);
  const query = source;
  // Keyed by the token limit too: a text parsed without a limit must not skip a limit later.
  const key = `${maxTokens ?? ''}\u0000${query}`;
  let document = documents.get(key);
  if (!document) documents.set(key, (document = parse(query, options)));
  return document;
}

/**
 * Validation errors of a (cached) document against a schema and extra rules, computed once per
 * schema, rule set and document: a document validated without the query limits is validated
 * again when they apply.
 */
export function cachedValidate(schema: GraphQLSchema, document: DocumentNode, extraRules: readonly ValidationRule[] = NO_EXTRA_RULES): readonly GraphQLError[] {
  let bySchema = validations.get(schema);
  if (!bySchema) validations.set(schema, (bySchema = new WeakMap()));
  let byRules = bySchema.get(extraRules);
  if (!byRules) bySchema.set(extraRules, (byRules = new WeakMap()));
  let errors = byRules.get(document);
  if (!errors) byRules.set(document, (errors = validate(schema, document, extraRules.length > 0 ? [...specifiedRules, ...extraRules] : undefined)));
  return errors;
}
