/**
 * Errors as GraphQL answers them, for every service: CodedError (lib/contracts/errors.ts) with its
 * code and `retryable`, and production settings that hide stack traces and schema suggestions.
 */
import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import { CodedError } from '../contracts/errors.js';

/** Apollo's own pattern for validation suggestions ("Did you mean "x"?", "Did you mean the enum value …?"). */
export const SUGGESTION = / ?Did you mean(.+?)\?$/;

/** An error message without its "Did you mean …?" suggestion. */
export const withoutSuggestions = (message: string): string => message.replace(SUGGESTION, '');

/**
 * Apollo Server settings every service shares for production: no stack traces and no suggestions
 * in any error (validation, variable coercion, execution), whatever Apollo reads from NODE_ENV
 * itself (it compares case-sensitively, so NODE_ENV=Production would have shown stack traces).
 */
export function apolloErrorSettings(production: boolean) {
  return {
    includeStacktraceInErrorResponses: !production,
    hideSchemaDetailsFromClientErrors: production,
    ...(production ? { formatError: (formatted: GraphQLFormattedError) => ({ ...formatted, message: withoutSuggestions(formatted.message) }) } : {}),
  };
}

export function codedGraphQLError(err: CodedError): GraphQLError {
  return new GraphQLError(err.message, { extensions: { ...err.details, code: err.code, ...(err.retryable ? { retryable: true } : {}) } });
}

/** Runs a resolver's work; a CodedError it throws becomes its GraphQL error, anything else is rethrown. */
export async function withCodedErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof CodedError ? codedGraphQLError(err) : err;
  }
}
