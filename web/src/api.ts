/**
 * The console's one door to the platform: the public /api/v1 with a bearer
 * token held in memory only (never storage). A 401 tries one cookie refresh;
 * a 403 step-up-required asks for a fresh second factor and retries once.
 */
export interface Problem { type?: string; title?: string; status?: number; detail?: string; code?: string; [k: string]: unknown }

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
  /** The problem's kind, from its stable type (`urn:ocsuite:problem:step-up-required` → `step-up-required`). */
  get code(): string { return (this.problem.type ?? '').replace('urn:ocsuite:problem:', ''); }
}

let accessToken: string | null = null;
let refresher: (() => Promise<boolean>) | null = null;
let stepUp: (() => Promise<boolean>) | null = null;
let onActivity: () => void = () => {};

export const tokens = {
  set(token: string | null) { accessToken = token; },
  get present() { return accessToken !== null; },
};
export function onRefreshNeeded(fn: () => Promise<boolean>) { refresher = fn; }
export function onStepUpNeeded(fn: () => Promise<boolean>) { stepUp = fn; }
export function onApiActivity(fn: () => void) { onActivity = fn; }

interface Options { headers?: Record<string, string>; raw?: boolean; retried?: boolean; steppedUp?: boolean }

export async function api<T = unknown>(method: string, path: string, body?: unknown, options: Options = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  onActivity();
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401 && accessToken && !options.retried && refresher && (await refresher())) {
    return api<T>(method, path, body, { ...options, retried: true });
  }
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as Problem;
    const error = new ApiError(res.status, problem);
    if (error.code === 'step-up-required' && !options.steppedUp && stepUp && (await stepUp())) {
      return api<T>(method, path, body, { ...options, steppedUp: true });
    }
    throw error;
  }
  if (options.raw) return (await res.blob()) as T;
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** Query strings from filled-in fields only. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
