// The Apollo Client set-up a single-page app needs for customer-api, and nothing more:
//
// - the cache is Apollo's InMemoryCache with its defaults: customer-api gives every
//   Customer a global `id`, which Apollo normalises on, so no typePolicies or keyFields;
// - queries go out as automatic persisted queries over GET (Apollo's own PersistedQueryLink):
//   a hash first, the text only when the server asks for it;
// - the access token (15 minutes by default) is renewed with the refresh token before it
//   expires (at four fifths of its life), and also when the server says UNAUTHENTICATED (a
//   laptop that slept through the renewal), once for all the operations waiting on it, and
//   the failed operation is retried with the new token;
// - subscriptions go over one WebSocket (graphql-ws, which Apollo's GraphQLWsLink drives),
//   authenticated in connection_init; when the tokens change, the app reopens the socket
//   with the new one and subscribes again (see `followChanges` in main.js).
//
// Tokens are kept in memory only: a page reload logs out, which is the safe default for a
// browser (see the README's "Sessions and accounts" for the alternatives).
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient as createWsClient } from 'graphql-ws';
import { from, mergeMap } from 'rxjs';
import { REFRESH } from './documents.js';

/// SHA-256 in hex, with the browser's own Web Crypto (a secure context: HTTPS or localhost).
async function sha256(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function createClient(uri, session) {
  // Every operation but the renewal itself carries the access token.
  const authorization = new SetContextLink((context, operation) => {
    const token = operation.operationName === 'Refresh' ? null : session.accessToken();
    return token ? { headers: { ...context.headers, authorization: `Bearer ${token}` } } : {};
  });

  const renewOnExpiry = new ErrorLink(({ error, operation, forward }) => {
    const expired = CombinedGraphQLErrors.is(error)
      && error.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED');
    if (!expired || !session.canRefresh() || operation.operationName === 'Refresh') return;
    return from(session.refresh(() => refresh(client, session))).pipe(mergeMap(() => forward(operation)));
  });

  const sockets = createWsClient({
    url: new URL(uri, window.location.href).href.replace(/^http/, 'ws'),
    lazy: true,
    connectionParams: () => ({ Authorization: `Bearer ${session.accessToken()}` }),
    shouldRetry: (event) => event?.code !== 4403,
  });

  session.renew = () => refresh(client, session);

  const isSubscription = (operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION;
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      renewOnExpiry,
      ApolloLink.split(
        isSubscription,
        new GraphQLWsLink(sockets),
        ApolloLink.from([
          new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
          authorization,
          new HttpLink({ uri }),
        ]),
      ),
    ]),
  });
  // New tokens reach the server with a new socket: the app ends its subscriptions, calls
  // this, and subscribes again (graphql-ws opens the new socket with the new token).
  const reconnect = () => sockets.terminate();
  return { client, reconnect };
}

/// Rotates the refresh token: the old one is spent, the new pair replaces it.
async function refresh(client, session) {
  const { data } = await client.mutate({
    mutation: REFRESH,
    variables: { refreshToken: session.refreshToken() },
  });
  session.store(data.refreshSession);
}

/// The tokens of the signed-in customer (or an admin token), in memory.
export class Session {
  #access = null;
  #refresh = null;
  #renewing = null;
  #timer = null;
  onChange = () => {};
  renew = async () => {};

  accessToken() { return this.#access; }
  refreshToken() { return this.#refresh; }
  canRefresh() { return this.#refresh !== null; }

  /// From an AuthenticateCustomerPayload; renews it at four fifths of its life.
  store({ token, refreshToken, expiresAt }) {
    this.#access = token;
    this.#refresh = refreshToken;
    clearTimeout(this.#timer);
    const left = new Date(expiresAt).getTime() - Date.now();
    this.#timer = setTimeout(() => this.refresh(this.renew).catch(() => {}), Math.max(0, left * 0.8));
    this.onChange();
  }

  useAdminToken(token) {
    this.#access = token;
    this.#refresh = null;
    clearTimeout(this.#timer);
    this.onChange();
  }

  clear() {
    this.#access = this.#refresh = null;
    clearTimeout(this.#timer);
    this.onChange();
  }

  /// One renewal at a time: operations that fail together wait for the same one. A failed
  /// renewal (the session ended elsewhere, or the refresh token was reused) signs out.
  refresh(renew) {
    this.#renewing ??= renew()
      .catch((error) => { this.clear(); throw error; })
      .finally(() => { this.#renewing = null; });
    return this.#renewing;
  }
}
