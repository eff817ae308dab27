/**
 * Stream tickets: how a browser `EventSource`, which cannot send an Authorization header, opens
 * an SSE stream. The client trades its JWT (in the header, as for any request) for a ticket bound
 * to one operation: `POST /graphql/stream/ticket` with `{query, operationName?, variables?}`
 * answers `{ticket, expiresAt, url}`, and `new EventSource(url)` opens that stream, reconnects
 * included (EventSource reuses its URL and sends `Last-Event-ID`, see http-streams.ts).
 *
 * A ticket sits in a URL, where logs and browser history may keep it, so it is worth as little as
 * possible: it opens only the operation it was issued for (a hash of the query, the operation
 * name and the variables), only on GET /graphql/stream, and only until the caller's token expires
 * (at most STREAM_TICKET_MAX_TTL). It is a JWT signed with a key derived from the internal secret
 * for this purpose alone, with its own audience, so it is never accepted as a caller's token or as
 * the gateway's identity token, and every gateway replica verifies it.
 */
import { createHash, createHmac } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { ROLES, unauthenticated } from '../../lib/auth.js';
import type { AuthConfig, Identity, Role } from '../../lib/auth.js';

const ISSUER = 'rtp-gateway';
const AUDIENCE = 'rtp-stream';
/** The longest a ticket lives, however long the caller's token does (seconds). */
export const STREAM_TICKET_MAX_TTL_S = 12 * 3600;

export interface StreamOperation {
  query: string;
  operationName?: string | undefined;
  variables?: Record<string, unknown> | undefined;
}

/** What a ticket opens: the operation exactly as issued. */
function operationHash(op: StreamOperation): string {
  return createHash('sha256').update(JSON.stringify([op.query, op.operationName ?? null, op.variables ?? {}])).digest('base64url');
}

/** The URL parameters of a GET /graphql/stream for the operation (graphql-sse's GET form). */
export function streamSearchParams(op: StreamOperation): URLSearchParams {
  const params = new URLSearchParams({ query: op.query });
  if (op.operationName) params.set('operationName', op.operationName);
  if (op.variables && Object.keys(op.variables).length > 0) params.set('variables', JSON.stringify(op.variables));
  return params;
}

export class StreamTickets {
  private readonly key: Uint8Array;
  private readonly disabled: boolean;

  constructor(config: AuthConfig, private readonly now: () => number = config.clock ?? Date.now) {
    this.key = createHmac('sha256', config.internalSecret).update('rtp-stream-ticket').digest();
    this.disabled = config.disabled;
  }

  /** A ticket for the caller's operation, expiring with the caller's token. */
  async issue(identity: Identity, op: StreamOperation): Promise<{ ticket: string; expiresAt: number }> {
    const nowS = Math.floor(this.now() / 1000);
    const tokenExpiryS = identity.expiresAt === undefined ? Infinity : Math.floor(identity.expiresAt / 1000);
    const exp = Math.min(tokenExpiryS, nowS + STREAM_TICKET_MAX_TTL_S);
    const ticket = await new SignJWT({ roles: [...identity.roles], op: operationHash(op) })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(identity.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .sign(this.key);
    return { ticket, expiresAt: exp * 1000 };
  }

  /** The identity a ticket was issued to, when it is valid for this operation; else UNAUTHENTICATED. */
  async verify(ticket: string, op: StreamOperation): Promise<Identity> {
    let payload;
    try {
      ({ payload } = await jwtVerify(ticket, this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, requiredClaims: ['exp', 'sub'], currentDate: new Date(this.now()) }));
    } catch (err) {
      const expired = (err as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw unauthenticated(expired ? 'stream ticket expired: get a new one from POST /graphql/stream/ticket' : 'invalid stream ticket', 401);
    }
    if (payload['op'] !== operationHash(op)) throw unauthenticated('this stream ticket was issued for another operation (query, operationName and variables must be those it was issued for)', 401);
    const roles = (Array.isArray(payload['roles']) ? payload['roles'] : []).filter((r): r is Role => ROLES.includes(r as Role));
    // With auth disabled there are no tokens to expire; tickets still name the one identity.
    return { sub: payload.sub!, roles, ...(this.disabled ? {} : { expiresAt: payload.exp! * 1000 }) };
  }
}
