// The signed-in session: who we are, the access token (kept in memory only), and the refresh
// token (kept in localStorage so a reload, or a new tab, stays signed in).
//
// Refresh tokens rotate: each works once, and presenting a spent one again ends the whole
// session on the server (it looks like theft). So refreshes are serialized: within the tab
// through one shared promise, and across tabs through a Web Lock, inside which the token is
// read from storage afresh, so a tab never spends a token another tab already spent.

import { ApiError, NetworkError, request } from "./api.js";

const REFRESH_KEY = "missive.refresh_token";
const REFRESH_LOCK = "missive.refresh";
/** Refresh this long before the access token expires, rather than wait for a 401. */
const EARLY_REFRESH_MS = 30_000;

/** There is no session (never signed in, signed out, or the server ended it). */
export class SignedOut extends Error {
  constructor() {
    super("Signed out");
    this.name = "SignedOut";
  }
}

export function createSession() {
  let access = null;
  let expiresAt = 0;
  let user = null;
  let refreshing = null;
  const listeners = new Set();

  function adopt(tokens) {
    access = tokens.access_token;
    expiresAt = Date.now() + tokens.expires_in * 1000;
    user = tokens.user;
    localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
    return user;
  }

  // Web Locks exist in secure contexts (https, localhost). Elsewhere, tabs refreshing at
  // the same moment could spend the same token; within one tab the promise still serializes.
  function exclusive(task) {
    return navigator.locks ? navigator.locks.request(REFRESH_LOCK, task) : task();
  }

  async function spend() {
    const token = localStorage.getItem(REFRESH_KEY);
    if (!token) {
      end();
      throw new SignedOut();
    }
    try {
      adopt(await request("POST", "/v1/auth/refresh", { body: { refresh_token: token } }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        end();
        throw new SignedOut();
      }
      throw error;
    }
    return access;
  }

  /**
   * A new access token. `stale` is the token the caller found refused: if another request
   * has replaced it meanwhile, that replacement is the answer and nothing is spent.
   */
  function refresh(stale) {
    if (access && stale !== access) return Promise.resolve(access);
    refreshing ??= exclusive(spend).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  /** The access token to use now, refreshed first if it is about to expire. */
  async function accessToken() {
    if (!access) {
      if (!localStorage.getItem(REFRESH_KEY)) throw new SignedOut();
      return refresh(null);
    }
    if (Date.now() < expiresAt - EARLY_REFRESH_MS) return access;
    try {
      return await refresh(access);
    } catch (error) {
      // Offline near expiry: the current token may still be good for a little while.
      if (error instanceof NetworkError && Date.now() < expiresAt) return access;
      throw error;
    }
  }

  /** Forgets the session here (and, through storage, in every tab) and tells listeners. */
  function end() {
    const wasSignedIn = access !== null || user !== null;
    access = null;
    expiresAt = 0;
    user = null;
    localStorage.removeItem(REFRESH_KEY);
    if (wasSignedIn) for (const listener of listeners) listener();
  }

  // Another tab signed out (or its session was ended): this tab shares that session, so it
  // is over here too.
  addEventListener("storage", (event) => {
    if ((event.key === REFRESH_KEY || event.key === null) && event.newValue === null) end();
  });

  return {
    get user() {
      return user;
    },
    /** Signs in with the refresh token kept from last time; null when there is none. */
    async restore() {
      if (!localStorage.getItem(REFRESH_KEY)) return null;
      try {
        await refresh(null);
        return user;
      } catch (error) {
        if (error instanceof SignedOut) return null;
        throw error; // offline: the caller retries; the token is still there
      }
    },
    async login(login, password) {
      return adopt(await request("POST", "/v1/auth/login", { body: { login, password } }));
    },
    async register(fields) {
      return adopt(await request("POST", "/v1/auth/register", { body: fields }));
    },
    /** Ends the session on the server (best effort: offline, it still ends here). */
    async logout() {
      const token = access;
      if (token) {
        const signal = AbortSignal.timeout?.(3000);
        await request("POST", "/v1/auth/logout", { token, signal }).catch(() => {});
      }
      end();
    },
    accessToken,
    refresh,
    end,
    onEnd(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
