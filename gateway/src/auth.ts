/**
 * The gateway's side of authentication: callers' JWTs are verified here, and the subgraphs get
 * the verified identity as the gateway's internal token (see lib/auth.ts). Operations other than
 * introspection need a token; what each role may do is decided by the subgraphs that own the data.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import type { OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { InternalTokens, TokenVerifier, unauthenticated } from '../../lib/auth.js';
import type { AuthConfig, Identity } from '../../lib/auth.js';

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
    return identity ? { identity, identityToken: await this.internal.sign(identity) } : { identity: null };
  }
}

const introspectionOnly = (set: SelectionSetNode): boolean =>
  set.selections.every((s) =>
    s.kind === Kind.FIELD ? s.name.value.startsWith('__') : s.kind === Kind.INLINE_FRAGMENT ? introspectionOnly(s.selectionSet) : false,
  );

/** True when the operation only asks for introspection (__schema, __type, __typename). */
export function isIntrospection(operation: OperationDefinitionNode): boolean {
  return introspectionOnly(operation.selectionSet);
}

/** Refuses operations without a verified caller (introspection excepted, for Sandbox in development). */
export function requireCallerPlugin(): ApolloServerPlugin<Caller> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation }) {
          if (!contextValue.identity && (!operation || !isIntrospection(operation))) {
            throw unauthenticated('authentication required: send Authorization: Bearer <JWT> (npm start prints demo tokens)', 401);
          }
        },
      };
    },
  };
}
