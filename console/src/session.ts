/**
 * The signed-in caller: a bearer token and what its claims say (read for display and for which
 * views to offer; the gateway verifies the token, the page never trusts these claims for access).
 */
export interface Session {
  token: string;
  role: 'user' | 'service';
  subject: string;
}

const STORAGE_KEY = 'console.token';

function claims(token: string): Record<string, unknown> | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const value: unknown = JSON.parse(json);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A session from a token, or an error message saying why the token cannot be one. */
export function sessionFrom(raw: string): Session | string {
  const token = raw.trim().replace(/^Bearer\s+/i, '');
  const c = claims(token);
  if (!c) return 'That is not a JWT (three base64url parts separated by dots).';
  const roles = [c['role'], ...(Array.isArray(c['roles']) ? c['roles'] : [])];
  const role = roles.includes('service') ? 'service' : roles.includes('user') ? 'user' : null;
  if (!role) return 'The token has no user or service role.';
  if (typeof c['exp'] === 'number' && c['exp'] * 1000 < Date.now()) return 'The token has expired.';
  return { token, role, subject: typeof c['sub'] === 'string' ? c['sub'] : '' };
}

/** Kept for the tab only (sessionStorage): closing it signs out. */
export function savedSession(): Session | null {
  const token = sessionStorage.getItem(STORAGE_KEY);
  if (!token) return null;
  const session = sessionFrom(token);
  return typeof session === 'string' ? null : session;
}

export function saveSession(session: Session | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, session.token);
  else sessionStorage.removeItem(STORAGE_KEY);
}
