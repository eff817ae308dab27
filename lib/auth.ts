/**
 * Authentication and authorization shared by the gateway and the subgraphs.
 *
 * Callers present a JWT (`Authorization: Bearer …`): HS256 signed with JWT_SECRET, or RS256 /
 * ES256 from the key set at JWKS_URL. Its `sub` is the caller and `role` / `roles` give `user`
 * or `service`. The gateway verifies it and hands the subgraphs the verified identity as a
 * short-lived internal token (the `x-gateway-identity` header, or `identity` in graphql-ws
 * connectionParams) signed with INTERNAL_AUTH_SECRET, which only the gateway holds besides the
 * subgraphs: a client that reaches a subgraph directly cannot forge it. The events API on the
 * profile subgraph, which clients call directly, verifies JWTs itself like the gateway does.
 *
 * Rules: `user` reads only its own User and records unit events only for its own rows;
 * `service` does everything else (ingestion for any user, any profile, experiments, catalog).
 * Anything else is UNAUTHENTICATED (no or a bad token) or FORBIDDEN (a valid token without the
 * right). It fails closed: every root field and entity of a subgraph has a rule (publicField when
 * public), or the subgraph does not start (guardResolvers).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { defaultFieldResolver, GraphQLError, isObjectType, isUnionType, Kind } from 'graphql';
import type { GraphQLSchema, OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { ConfigError, envBool, envInt, envString, isProduction } from './env.js';

export type Role = 'user' | 'service';
export const ROLES: readonly Role[] = ['user', 'service'];

export interface Identity {
  /** The token's subject: for role `user`, the user id. */
  sub: string;
  roles: readonly Role[];
  /** When the caller's token expires (epoch ms); long-lived connections close then. */
  expiresAt?: number;
}

/** With AUTH_DISABLED=1 (development only) every request acts as this service identity. */
export const AUTH_DISABLED_IDENTITY: Identity = Object.freeze({ sub: 'auth-disabled', roles: Object.freeze(['service'] as Role[]) });

export const IDENTITY_HEADER = 'x-gateway-identity';
const INTERNAL_ISSUER = 'rtp-gateway';
const INTERNAL_AUDIENCE = 'rtp-subgraphs';
/** Clock skew allowed between the gateway and the subgraphs for their identity tokens (seconds). */
const INTERNAL_SKEW_S = 5;

/** Development-only secrets: used when nothing is configured outside production. */
const DEV_JWT_SECRET = 'dev-only-jwt-secret-change-me-0123456789';
const DEV_INTERNAL_SECRET = 'dev-only-internal-auth-secret-0123456789';

export interface AuthConfig {
  disabled: boolean;
  /** HS256 key for callers' tokens (JWT_SECRET), when JWKS_URL is not used. */
  jwtSecret?: Uint8Array;
  /** Key set for RS256 / ES256 callers' tokens. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** HS256 key of the gateway → subgraph identity tokens. */
  internalSecret: Uint8Array;
  /** Lifetime of those tokens in seconds (INTERNAL_TOKEN_TTL, default 300). */
  internalTokenTtlS: number;
  /** True when the development default secrets are in use. */
  developmentSecrets: boolean;
  /** The clock tokens are signed and checked with (epoch ms; Date.now unless a test injects one). */
  clock?: () => number;
}

const secretBytes = (name: string, value: string) => {
  if (value.length < 32) throw new ConfigError(`${name} must be at least 32 characters`);
  return new TextEncoder().encode(value);
};

export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const production = isProduction(env);
  const disabled = envBool(env, 'AUTH_DISABLED', false);
  if (disabled && production) throw new ConfigError('AUTH_DISABLED=1 is for local exploration only and refused when NODE_ENV=production');
  const jwksUrl = envString(env, 'JWKS_URL', '') || undefined;
  const jwt = envString(env, 'JWT_SECRET', '');
  const internal = envString(env, 'INTERNAL_AUTH_SECRET', '');
  if (production && !disabled) {
    if (!jwt && !jwksUrl) throw new ConfigError('JWT_SECRET or JWKS_URL is required when NODE_ENV=production');
    if (!internal) throw new ConfigError('INTERNAL_AUTH_SECRET is required when NODE_ENV=production');
  }
  if (jwksUrl) {
    const url = new URL(jwksUrl);
    if (production && url.protocol !== 'https:') throw new ConfigError('JWKS_URL must be https when NODE_ENV=production');
  }
  const issuer = envString(env, 'JWT_ISSUER', '') || undefined;
  const audience = envString(env, 'JWT_AUDIENCE', '') || undefined;
  return {
    disabled,
    ...(jwksUrl ? { jwksUrl } : { jwtSecret: jwt ? secretBytes('JWT_SECRET', jwt) : new TextEncoder().encode(DEV_JWT_SECRET) }),
    ...(issuer ? { issuer } : {}),
    ...(audience ? { audience } : {}),
    internalSecret: internal ? secretBytes('INTERNAL_AUTH_SECRET', internal) : new TextEncoder().encode(DEV_INTERNAL_SECRET),
    internalTokenTtlS: envInt(env, 'INTERNAL_TOKEN_TTL', 300, 2, 3600),
    developmentSecrets: !jwt && !jwksUrl && !internal,
  };
}

/**
 * Auth errors. `status` is for refusals of a whole request (a bad token): Apollo Server answers
 * with that HTTP status. Field-level refusals (the rules below) have none, so the rest of the
 * operation is still answered with 200.
 */
export const unauthenticated = (message: string, status?: 401) =>
  new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', ...(status ? { http: { status } } : {}) } });
export const forbidden = (message: string, status?: 403) =>
  new GraphQLError(message, { extensions: { code: 'FORBIDDEN', ...(status ? { http: { status } } : {}) } });

function rolesOf(payload: JWTPayload): Role[] {
  const raw = payload['roles'] ?? payload['role'];
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[\s,]+/) : [];
  return ROLES.filter((r) => list.includes(r));
}

function identityOf(payload: JWTPayload): Identity {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw unauthenticated('the token has no subject (sub)', 401);
  const roles = rolesOf(payload);
  if (roles.length === 0) throw forbidden('the token has no known role (role or roles: user, service)', 403);
  return { sub: payload.sub, roles };
}

/** Verified tokens by their text, kept until they expire (bounded): a hot token is checked once. */
class VerifiedCache {
  private readonly entries = new Map<string, { identity: Identity; until: number }>();
  constructor(
    private readonly now: () => number,
    private readonly max = 10_000,
  ) {}
  get(token: string): Identity | undefined {
    const hit = this.entries.get(token);
    if (!hit) return undefined;
    if (this.now() >= hit.until) {
      this.entries.delete(token);
      return undefined;
    }
    return hit.identity;
  }
  set(token: string, identity: Identity, exp: number | undefined) {
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    // Tokens without exp are re-verified every minute.
    this.entries.set(token, { identity, until: Math.min(exp ? exp * 1000 : Infinity, this.now() + 60_000) });
  }
}

function bearer(value: string | undefined): string | null {
  if (!value) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(value.trim());
  if (!m) throw unauthenticated('the authorization header must be "Bearer <JWT>"', 401);
  return m[1]!;
}

/** Verifies callers' JWTs. */
export class TokenVerifier {
  private readonly cache: VerifiedCache;
  private readonly jwks?: JWTVerifyGetKey;
  private readonly now: () => number;

  constructor(private readonly config: AuthConfig) {
    this.now = config.clock ?? Date.now;
    this.cache = new VerifiedCache(this.now);
    if (config.jwksUrl) this.jwks = createRemoteJWKSet(new URL(config.jwksUrl));
  }

  /**
   * The caller behind an Authorization header value: null without one (or any identity when auth
   * is disabled); throws UNAUTHENTICATED for a bad token, FORBIDDEN for one without a role.
   */
  async verify(authorization: string | undefined): Promise<Identity | null> {
    if (this.config.disabled) return AUTH_DISABLED_IDENTITY;
    const token = bearer(authorization);
    if (!token) return null;
    const cached = this.cache.get(token);
    if (cached) return cached;
    const options = {
      currentDate: new Date(this.now()),
      ...(this.config.issuer ? { issuer: this.config.issuer } : {}),
      ...(this.config.audience ? { audience: this.config.audience } : {}),
    };
    let payload: JWTPayload;
    try {
      // Callers' tokens must expire (exp is required).
      payload = this.jwks
        ? (await jwtVerify(token, this.jwks, { ...options, algorithms: ['RS256', 'ES256'], requiredClaims: ['exp'] })).payload
        : (await jwtVerify(token, this.config.jwtSecret!, { ...options, algorithms: ['HS256'], requiredClaims: ['exp'] })).payload;
    } catch (err) {
      throw unauthenticated(`invalid token: ${describe(err)}`, 401);
    }
    const identity = { ...identityOf(payload), expiresAt: payload.exp! * 1000 };
    this.cache.set(token, identity, payload.exp);
    return identity;
  }
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return err.reason === 'missing' ? `no ${err.claim} claim` : `claim ${err.claim} ${err.reason}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no matching key';
  if (err instanceof joseErrors.JOSEError) return err.code.toLowerCase().replace(/^err_/, '').replaceAll('_', ' ');
  return 'malformed';
}

/** One identity as the subgraphs see it (one internal token per key): its roles and subject. */
export const identityKey = (identity: Identity): string => `${identity.roles.join(',')}\u0000${identity.sub}`;

/** Gateway → subgraph identity tokens: signed once per identity and reused until near expiry. */
export class InternalTokens {
  private readonly signed = new Map<string, { token: string; refreshAt: number }>();
  private readonly verified: VerifiedCache;
  private readonly now: () => number;

  constructor(private readonly config: AuthConfig) {
    this.now = config.clock ?? Date.now;
    this.verified = new VerifiedCache(this.now);
  }

  async sign(identity: Identity): Promise<string> {
    const key = identityKey(identity);
    const hit = this.signed.get(key);
    if (hit && this.now() < hit.refreshAt) return hit.token;
    const token = await new SignJWT({ roles: [...identity.roles] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(identity.sub)
      .setIssuer(INTERNAL_ISSUER)
      .setAudience(INTERNAL_AUDIENCE)
      .setIssuedAt(Math.floor(this.now() / 1000))
      .setExpirationTime(Math.floor(this.now() / 1000) + this.config.internalTokenTtlS)
      .sign(this.config.internalSecret);
    if (this.signed.size >= 10_000) this.signed.delete(this.signed.keys().next().value!);
    // Reused until its last minute (or last half, for short lifetimes).
    const ttlMs = this.config.internalTokenTtlS * 1000;
    this.signed.set(key, { token, refreshAt: this.now() + ttlMs - Math.min(60_000, ttlMs / 2) });
    return token;
  }

  /** The identity the gateway vouched for; null without a token; UNAUTHENTICATED for a bad one. */
  async verify(token: string | undefined): Promise<Identity | null> {
    if (this.config.disabled) return AUTH_DISABLED_IDENTITY;
    if (!token) return null;
    const cached = this.verified.get(token);
    if (cached) return cached;
    let payload: JWTPayload;
    const ttlS = this.config.internalTokenTtlS;
    try {
      // Short-lived by construction: exp and iat are required, and a token may live no longer
      // than INTERNAL_TOKEN_TTL (a leaked one is worth minutes, not forever).
      ({ payload } = await jwtVerify(token, this.config.internalSecret, {
        algorithms: ['HS256'],
        issuer: INTERNAL_ISSUER,
        audience: INTERNAL_AUDIENCE,
        requiredClaims: ['exp', 'iat'],
        maxTokenAge: ttlS + INTERNAL_SKEW_S,
        clockTolerance: INTERNAL_SKEW_S,
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      throw unauthenticated(`invalid gateway identity: ${describe(err)}`, 401);
    }
    if (payload.exp! - payload.iat! > ttlS + INTERNAL_SKEW_S) {
      throw unauthenticated(`invalid gateway identity: it lives longer than INTERNAL_TOKEN_TTL (${ttlS} s)`, 401);
    }
    const identity = identityOf(payload);
    this.verified.set(token, identity, payload.exp);
    return identity;
  }

  /** The identity in a subgraph request's headers. */
  fromHeaders(headers: IncomingHttpHeaders): Promise<Identity | null> {
    const value = headers[IDENTITY_HEADER];
    return this.verify(Array.isArray(value) ? value[0] : value);
  }
}

/** Mints a caller token (HS256 with JWT_SECRET): demo tokens, tests and benchmarks. */
export async function mintToken(config: AuthConfig, claims: { sub: string; role: Role | Role[] }, expiresIn = '12h'): Promise<string> {
  if (!config.jwtSecret) throw new Error('tokens can only be minted with JWT_SECRET (HS256), not from a JWKS');
  return new SignJWT({ [Array.isArray(claims.role) ? 'roles' : 'role']: claims.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(config.jwtSecret);
}

// --- rules ---------------------------------------------------------------------------------

const introspectionOnly = (set: SelectionSetNode): boolean =>
  set.selections.every((s) =>
    s.kind === Kind.FIELD ? s.name.value.startsWith('__') : s.kind === Kind.INLINE_FRAGMENT ? introspectionOnly(s.selectionSet) : false,
  );

/** True when the operation only asks for introspection (__schema, __type, __typename). */
export function isIntrospection(operation: OperationDefinitionNode): boolean {
  return introspectionOnly(operation.selectionSet);
}

export function requireIdentity(identity: Identity | null | undefined): Identity {
  if (!identity) throw unauthenticated('authentication required: send Authorization: Bearer <JWT>');
  return identity;
}

export const isService = (identity: Identity | null | undefined) => !!identity?.roles.includes('service');

export function requireService(identity: Identity | null | undefined, what: string): Identity {
  const id = requireIdentity(identity);
  if (!isService(id)) throw forbidden(`${what} requires the service role`);
  return id;
}

/** A user reads only itself; a service reads anyone. */
export function requireSelfOrService(identity: Identity | null | undefined, userId: string): Identity {
  const id = requireIdentity(identity);
  if (isService(id) || (id.roles.includes('user') && id.sub === userId)) return id;
  throw forbidden(`a user token can only access its own user (${id.sub}), not ${userId}`);
}

/** Rules as subgraphs declare them (their contexts carry the verified `identity`). */
type WithIdentity = { identity: Identity | null };
export const anyIdentity: Rule<WithIdentity> = (ctx) => void requireIdentity(ctx.identity);
/** Marked with `role`, so a test can check that the schema's @requiresScopes says the same. */
export const serviceOnly = (what: string): Rule<WithIdentity> & { role: 'service' } =>
  Object.assign((ctx: WithIdentity) => void requireService(ctx.identity, what), { role: 'service' as const });
/** The user named by argument (or entity reference field) `field`, or any user for a service. */
export const selfOrService =
  (field: string): Rule<WithIdentity> =>
  (ctx, args) =>
    void requireSelfOrService(ctx.identity, String(args[field]));
/**
 * No check: anyone the gateway forwards may call the field, without a token. Every root field
 * needs a rule (see guardResolvers), so a public field is one somebody wrote down as public.
 */
export const publicField: Rule<unknown> = (): void => {};

/** A check run before a field resolves: throws UNAUTHENTICATED or FORBIDDEN to refuse it. */
export type Rule<Ctx> = (ctx: Ctx, args: Record<string, unknown>, parent: unknown) => void;

// The keys a subgraph's rules must cover, from its generated resolver types (codegen.yml).
// useIndexSignature gives every generated object a `Record<string, any>`: only the named keys count.
type NamedKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : symbol extends K ? never : K]: T[K] } &
  string;
type FieldsOf<T> = NamedKeys<NonNullable<T>>;
type RootType = 'Query' | 'Mutation' | 'Subscription';
/** `Query.x`, `Mutation.x`, `Subscription.x` for every root field; `Entity.__resolveReference` for every entity. */
export type GuardedField<Res> = {
  [T in NamedKeys<Res>]: T extends RootType
    ? `${T}.${FieldsOf<Res[T]>}`
    : '__resolveReference' extends FieldsOf<Res[T]>
      ? `${T}.__resolveReference`
      : never;
}[NamedKeys<Res>];
/**
 * A subgraph's rules, typed against its generated `Resolvers`: one for every root field and entity
 * reference, required (a new field without a rule, a typo or a removed field does not compile).
 */
export type RuleMap<Res, Ctx> = { readonly [P in GuardedField<Res>]: Rule<Ctx> };

/** Root fields buildSubgraphSchema adds: `_entities` runs the entities' __resolveReference (guarded
 * there), `_service` (the SDL) serves the gateway only (the subgraphs' requireIdentityPlugin). */
const FEDERATION_ROOT_FIELDS: ReadonlySet<string> = new Set(['_entities', '_service']);

/** What must have a rule in a (subgraph) schema: every root field and every entity's __resolveReference. */
export function guardedFields(schema: GraphQLSchema): string[] {
  const paths: string[] = [];
  const query = schema.getQueryType();
  for (const root of [query, schema.getMutationType(), schema.getSubscriptionType()]) {
    if (!root) continue;
    for (const name of Object.keys(root.getFields())) {
      if (root === query && FEDERATION_ROOT_FIELDS.has(name)) continue;
      paths.push(`${root.name}.${name}`);
    }
  }
  const entities = schema.getType('_Entity');
  if (isUnionType(entities)) for (const type of entities.getTypes()) paths.push(`${type.name}.__resolveReference`);
  return paths;
}

type FieldResolver<Ctx> = (parent: unknown, args: Record<string, unknown>, ctx: Ctx, info: unknown) => unknown;

/**
 * Wraps resolvers with their rules ("Type.field" → check before resolving), failing closed: every
 * root field and entity reference of `schema` (guardedFields) must have a rule, and every rule must
 * name a field of `schema`, or this throws (naming them) and the subgraph does not start. A
 * guarded field without a resolver is guarded all the same (around the default resolver).
 * Subscriptions are checked once, when they start (their `subscribe`).
 */
export function guardResolvers<R extends Record<string, unknown>, Ctx>(
  schema: GraphQLSchema,
  resolvers: R,
  rules: Readonly<Record<string, Rule<Ctx>>>,
): R {
  const required = guardedFields(schema);
  const unguarded = required.filter((path) => typeof rules[path] !== 'function');
  const unknown = Object.keys(rules).filter((path) => !required.includes(path) && !isObjectField(schema, path));
  if (unguarded.length > 0 || unknown.length > 0) {
    throw new Error(
      [
        unguarded.length > 0 &&
          `no auth rule for ${unguarded.join(', ')}: every root field and entity needs one in src/schema/auth-rules.ts (publicField when it is meant to be public)`,
        unknown.length > 0 && `auth rules for fields the schema does not have: ${unknown.join(', ')}`,
      ]
        .filter(Boolean)
        .join('; '),
    );
  }
  const subscription = schema.getSubscriptionType()?.name;
  const out: Record<string, unknown> = { ...resolvers };
  for (const [path, rule] of Object.entries(rules)) {
    const [type, field] = path.split('.') as [string, string];
    const typeResolvers = { ...(out[type] as Record<string, unknown> | undefined) };
    const original = typeResolvers[field];
    const guard =
      (resolve: FieldResolver<Ctx>): FieldResolver<Ctx> =>
      (parent, args, ctx, info) => {
        rule(ctx, args, parent);
        return resolve(parent, args, ctx, info);
      };
    if (field === '__resolveReference') {
      const resolve = original as ((ref: unknown, ctx: Ctx, info: unknown) => unknown) | undefined;
      typeResolvers[field] = (ref: Record<string, unknown>, ctx: Ctx, info: unknown) => {
        rule(ctx, ref, ref);
        return resolve ? resolve(ref, ctx, info) : ref;
      };
    } else if (typeof original === 'function') {
      typeResolvers[field] = guard(original as FieldResolver<Ctx>);
    } else if (original && typeof original === 'object') {
      const config = original as { subscribe?: FieldResolver<Ctx>; resolve?: FieldResolver<Ctx> };
      typeResolvers[field] = config.subscribe
        ? { ...config, subscribe: guard(config.subscribe) }
        : { ...config, resolve: guard(config.resolve ?? (defaultFieldResolver as FieldResolver<Ctx>)) };
    } else {
      const resolve = guard(defaultFieldResolver as FieldResolver<Ctx>);
      typeResolvers[field] = type === subscription ? { subscribe: resolve } : resolve;
    }
    out[type] = typeResolvers;
  }
  return out as R;
}

function isObjectField(schema: GraphQLSchema, path: string): boolean {
  const [type, field, ...rest] = path.split('.');
  const named = type ? schema.getType(type) : undefined;
  return rest.length === 0 && !!field && isObjectType(named) && Object.hasOwn(named.getFields(), field);
}
