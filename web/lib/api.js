// The HTTP side of missive's /v1 API: JSON in and out, the bearer token attached, and one
// refresh-and-retry when the server says the access token is no longer good (it expired, or
// the server restarted with sessions intact). Errors come out as two kinds callers can tell
// apart: ApiError (the server answered, and said no) and NetworkError (it did not answer).

/** The server answered with an error status; `code` is its stable error code. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(typeof body?.detail === "string" ? body.detail : `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.code ?? null;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    this.retryAfter = retryAfter; // seconds, from Retry-After (429, 503)
  }

  /** Worth repeating as is: the server was overloaded or restarting, not refusing. */
  get transient() {
    return this.status === 429 || this.status >= 500;
  }
}

/** No answer: offline, the server down or restarting, or the connection cut mid-request. */
export class NetworkError extends Error {
  constructor(cause) {
    super("Cannot reach the server");
    this.name = "NetworkError";
    this.cause = cause;
  }

  get transient() {
    return true;
  }
}

/** Performs one request without authentication; resolves to the parsed body (or null). */
export async function request(method, path, { body, token, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal, cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new NetworkError(error);
  }
  const text = await response.text().catch(() => "");
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null; // a proxy's HTML error page, say: the status says enough
    }
  }
  if (!response.ok) {
    const retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw new ApiError(response.status, parsed, retryAfter);
  }
  return parsed;
}

/**
 * An API client bound to a session. Each call gets the current access token; a 401 makes it
 * refresh once (the session serializes refreshes) and try again with the new token. A second
 * 401 means the session is over, and the session says so to whoever listens.
 */
export function createApi(session) {
  async function call(method, path, options = {}) {
    const token = await session.accessToken();
    try {
      return await request(method, path, { ...options, token });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      const fresh = await session.refresh(token);
      try {
        return await request(method, path, { ...options, token: fresh });
      } catch (again) {
        if (again instanceof ApiError && again.status === 401) session.end();
        throw again;
      }
    }
  }

  const q = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) search.set(key, String(value));
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  };

  return {
    call,
    eventsHead: () => call("GET", "/v1/events"),
    me: () => call("GET", "/v1/users/me"),
    searchUsers: (prefix, limit = 10) => call("GET", `/v1/users${q({ q: prefix, limit })}`),
    user: (id) => call("GET", `/v1/users/${id}`),
    conversations: (cursor, limit = 50) => call("GET", `/v1/conversations${q({ cursor, limit })}`),
    conversation: (id) => call("GET", `/v1/conversations/${id}`),
    openDirect: (peerId) => call("POST", "/v1/conversations", { body: { peer_id: peerId } }),
    createGroup: (title, memberIds, key) =>
      call("POST", "/v1/conversations", {
        body: { kind: "group", title, member_ids: memberIds },
        headers: { "Idempotency-Key": key },
      }),
    renameGroup: (id, title) => call("PATCH", `/v1/conversations/${id}`, { body: { title } }),
    members: (id, cursor) => call("GET", `/v1/conversations/${id}/members${q({ cursor, limit: 1000 })}`),
    addMember: (id, userId) => call("POST", `/v1/conversations/${id}/members`, { body: { user_id: userId } }),
    removeMember: (id, userId) => call("DELETE", `/v1/conversations/${id}/members/${userId}`),
    setRole: (id, userId, role) =>
      call("PATCH", `/v1/conversations/${id}/members/${userId}`, { body: { role } }),
    messages: (id, { before, limit = 50 } = {}) =>
      call("GET", `/v1/conversations/${id}/messages${q({ before, limit })}`),
    send: (id, content, key) =>
      call("POST", `/v1/conversations/${id}/messages`, {
        body: { content },
        headers: { "Idempotency-Key": key },
      }),
    edit: (messageId, content) => call("PATCH", `/v1/messages/${messageId}`, { body: { content } }),
    deleteForEveryone: (messageId) => call("DELETE", `/v1/messages/${messageId}`),
    hideForMe: (messageId) => call("DELETE", `/v1/messages/${messageId}?for=me`),
    history: (messageId) => call("GET", `/v1/messages/${messageId}/history`),
    markRead: (id, seq) => call("POST", `/v1/conversations/${id}/read`, { body: { seq } }),
  };
}
