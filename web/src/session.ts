import { api, ApiError, onRefreshNeeded, tokens } from './api.ts';

/** GET /api/v1/me: who the user is and what they may do (the console's capabilities). */
export interface Me {
  user: { id: string; email: string; displayName: string | null };
  tenant: { id: string; name: string };
  roles: string[];
  permissions: string[];
  sessionId: string | null;
}
interface TokenPair { accessToken: string; expiresIn: number }
interface MfaChallenge { mfaRequired: true; mfaTicket: string }

// Cookie mode: the refresh token lives in an HttpOnly cookie scoped to /api/v1/auth/refresh.
const COOKIE_MODE = { 'x-ocsuite-refresh': 'cookie' };
export const IDLE_MINUTES = 15;

let me: Me | null = null;
let refreshTimer: number | undefined;
let idleTimer: number | undefined;
let onEnded: (reason: string) => void = () => {};

export const session = {
  get me(): Me | null { return me; },
  can(permission: string): boolean { return me?.permissions.includes(permission) ?? false; },
  /** After PATCH /me: the API's answer replaces what the console knows of the user. */
  update(next: Me) { me = next; },
  onEnded(fn: (reason: string) => void) { onEnded = fn; },
};

function accept(pair: TokenPair) {
  tokens.set(pair.accessToken);
  window.clearTimeout(refreshTimer);
  // Refresh a little before the access token expires, so no request meets a 401.
  refreshTimer = window.setTimeout(() => void refresh(), Math.max(10, pair.expiresIn - 30) * 1000);
}

async function loadMe(): Promise<Me> {
  me = await api<Me>('GET', '/me');
  armIdle();
  return me;
}

/** Step one; answers the MFA ticket when a second factor is needed. */
export async function login(email: string, password: string, tenant?: string): Promise<{ mfaTicket: string } | Me> {
  const result = await api<TokenPair | MfaChallenge>('POST', '/auth/login', { email, password, ...(tenant ? { tenant } : {}) }, { headers: COOKIE_MODE });
  if ('mfaRequired' in result) return { mfaTicket: result.mfaTicket };
  accept(result);
  return loadMe();
}

export async function verifyMfa(ticket: string, code: string): Promise<Me> {
  accept(await api<TokenPair>('POST', '/auth/mfa/verify', { ticket, code }, { headers: COOKIE_MODE }));
  return loadMe();
}

let inFlight: Promise<boolean> | null = null;
/** One refresh at a time; a 409 refresh-race (another tab rotated the cookie first) is retried once. */
export function refresh(): Promise<boolean> {
  inFlight ??= (async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        accept(await api<TokenPair>('POST', '/auth/refresh', {}, { headers: COOKIE_MODE, retried: true }));
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.status === 409 && attempt === 0) {
          await new Promise((r) => setTimeout(r, 600));
          continue;
        }
        return false;
      }
    }
    return false;
  })().finally(() => { inFlight = null; });
  return inFlight;
}
onRefreshNeeded(async () => {
  const ok = await refresh();
  if (!ok) end('Your session ended; sign in again.');
  return ok;
});

/** After a reload: the cookie (if any) brings the session back without a password. */
export async function resume(): Promise<Me | null> {
  if (!(await refresh())) return null;
  try {
    return await loadMe();
  } catch {
    return null;
  }
}

export async function logout(reason = 'Signed out.'): Promise<void> {
  try {
    if (tokens.present) await api('POST', '/auth/logout', undefined, { headers: COOKIE_MODE, retried: true });
  } catch { /* the session may already be gone; the local state goes either way */ }
  end(reason);
}

function end(reason: string) {
  tokens.set(null);
  me = null;
  window.clearTimeout(refreshTimer);
  window.clearTimeout(idleTimer);
  onEnded(reason);
}

/** Idle timeout: no input and no request for IDLE_MINUTES signs out (server-side too: logout revokes the session). */
function armIdle() {
  window.clearTimeout(idleTimer);
  if (!me) return;
  idleTimer = window.setTimeout(() => void logout(`Signed out after ${IDLE_MINUTES} minutes without activity.`), IDLE_MINUTES * 60_000);
}
for (const type of ['pointerdown', 'keydown']) window.addEventListener(type, armIdle, { passive: true });
