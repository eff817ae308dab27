/**
 * Apollo Client on the gateway: queries and mutations over HTTP, subscriptions over graphql-ws
 * (the same /graphql path), both with the caller's bearer token.
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import type { ConsoleConfig } from './config-types';
import type { Session } from './session';

export interface ConsoleClient {
  client: ApolloClient;
  dispose(): void;
}

export function createConsoleClient(config: ConsoleConfig, session: Session): ConsoleClient {
  const authorization = `Bearer ${session.token}`;
  const ws = createClient({ url: config.gatewayWsUrl, connectionParams: { authorization }, lazy: true, retryAttempts: 5 });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: config.gatewayHttpUrl, headers: { authorization } }),
  );
  const cache = new InMemoryCache({
    typePolicies: {
      // Keyed by `key`, not `id`.
      Experiment: { keyFields: ['key'] },
      // A profile belongs to its user (no id of its own): updates merge into the cached one.
      Profile: { merge: true },
    },
  });
  return { client: new ApolloClient({ link, cache }), dispose: () => void ws.dispose() };
}
