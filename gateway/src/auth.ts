/**
 * The gateway's side of authentication: callers' JWTs are verified here, and the subgraphs get
 * the verified identity as the gateway's internal token (see lib/auth.ts). Operations other than
 * introspection need a token; what each role may do is decided by the subgraphs that own the data,
 * and fields that need a role are also refused here (scopes.ts).
 */
import type { ApolloServerPlugin } from '@apollo/server';
import type { OperationDefinitionNode } from 'graphql';
import { InternalTokens, isIntrospection, TokenVerifier, unauthenticated } from '../../lib/auth.js';
import type { AuthConfig, Identity } from '../../lib/auth.js';
import type { RequiredScopes } from './scopes.js';

export interface Caller {
  identity: Identity | null;
  /** The internal token the subgraphs trust (absent without an identity). */
  identityToken?: string;
}

export class GatewayAuth {
  readonly verifier: TokenVerifier;
  readonly internal: InternalTokens;

  constructor(config: AuthConfig) {
    this.verifier = new TokenVerifier(config);
    this.internal = new InternalTokens(config);
  }

  /** The caller behind an Authorization value; throws UNAUTHENTICATED / FORBIDDEN for bad tokens. */
  async caller(authorization: string | undefined): Promise<Caller> {
    const identity = await this.verifier.verify(authorization);
    return { identity, ...(await this.identityToken(identity)) };
  }

  /** The internal token for an identity (signed once, reused until near its expiry). */
  async identityToken(identity: Identity | null): Promise<{ identityToken?: string }> {
    return identity ? { identityToken: await this.internal.sign(identity) } : {};
  }
}

/** An operation needs a verified caller unless it only asks for introspection. */
export function needsCaller(caller: Caller, operation: OperationDefinitionNode | null | undefined): boolean {
  return !caller.identity && (!operation || !isIntrospection(operation));
}

/**
 * Refuses operations without a verified caller (introspection excepted, for Sandbox in
 * development), and those that select a field the caller's roles do not open (scopes.ts), before
 * anything is fetched.
 */
export function requireCallerPlugin(scopes: RequiredScopes, production: boolean): ApolloServerPlugin<Caller> {
  // Demo tokens exist only in development (npm start prints them there).
  const refusal = `authentication required: send Authorization: Bearer <JWT>${production ? '' : ' (npm start prints demo tokens)'}`;
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation, document, schema }) {
          if (needsCaller(contextValue, operation)) {
            throw unauthenticated(refusal, 401);
          }
          const refused = operation && scopes.refusal(schema, document, operation, contextValue.identity);
          if (refused) throw refused;
        },
      };
    },
  };
}
