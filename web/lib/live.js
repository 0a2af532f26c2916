// Live delivery over missive's WebSocket (/v1/events/ws), with the resumable cursor.
//
// The cursor is the `seq` of the last event handed on. Every (re)connection asks for the
// events after it, so a dropped network, a laptop lid, or a server restart loses nothing,
// and an event at or below the cursor (already seen) is never handed on twice. The server
// says `ready` once caught up and `reset` when the cursor is older than what it keeps; the
// owner then refetches its state over REST, and the stream goes on from the reset's head.

import { SignedOut } from "./session.js";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
/** A connection that has not said `ready` by then is given up and made again. */
const READY_TIMEOUT_MS = 15_000;
/** A timer that fires this late means the machine slept: the socket is likely dead. */
const SLEEP_GAP_MS = 15_000;
const TICK_MS = 5_000;
/**
 * Browsers neither send nor show WebSocket pings, so a link that died without a word (a
 * changed network, a NAT that forgot us) would look open until TCP gives up, minutes later.
 * After this long without hearing anything, the client asks `{"type":"ping"}`; no answer
 * (`pong`, or anything else) within PONG_WAIT_MS, and the socket is given up and made again.
 */
const QUIET_MS = 25_000;
const PONG_WAIT_MS = 10_000;
/** Application close code for sockets we abandon ourselves. */
const CLOSE_ABANDONED = 4000;
/** The server's close code when the session ended or the token was refused. */
const CLOSE_SESSION_ENDED = 4001;

/**
 * `handlers`: `event(item)`, `reset(head)`, `ready(head)`, `typing(frame)`, `status(s)` with
 * `s` one of "connecting", "online", "offline" (the browser says it has no network).
 */
export function createLive(session, handlers) {
  let running = false;
  let cursor = 0;
  let socket = null; // the WebSocket, or a placeholder while its token is being fetched
  let attempt = 0;
  let retryTimer = null;
  let tickTimer = null;
  let lastTick = Date.now();
  let refusals = 0;
  let status = "connecting";
  let lastHeard = 0; // when the current socket last said anything
  let pingSentAt = 0; // when we asked it to, if it has not answered since

  function setStatus(next) {
    if (next === status) return;
    status = next;
    handlers.status(next);
  }

  async function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!running || socket) return;
    if (!navigator.onLine) return setStatus("offline"); // "online" will call us
    setStatus("connecting");
    const placeholder = {};
    socket = placeholder;
    let token;
    try {
      token = await session.accessToken();
    } catch (error) {
      if (socket === placeholder) socket = null;
      if (error instanceof SignedOut) return stop();
      return retryLater();
    }
    if (!running || socket !== placeholder) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1/events/ws?after=${cursor}`);
    socket = ws;
    const readyTimer = setTimeout(() => {
      if (socket === ws && status !== "online") abandon(true);
    }, READY_TIMEOUT_MS);
    // Browsers cannot put headers on a WebSocket; the token goes in the first frame, which
    // keeps it out of URLs and server logs.
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
    lastHeard = Date.now();
    pingSentAt = 0;
    ws.onmessage = (message) => {
      if (socket !== ws) return;
      lastHeard = Date.now();
      pingSentAt = 0;
      let item;
      try {
        item = JSON.parse(message.data);
      } catch {
        return;
      }
      receive(item);
    };
    ws.onclose = ({ code }) => {
      clearTimeout(readyTimer);
      if (socket !== ws) return; // abandoned already
      socket = null;
      closed(code, token);
    };
  }

  function receive(item) {
    if (item.type === "ready") {
      attempt = 0;
      refusals = 0;
      setStatus("online");
      handlers.ready(item.head);
    } else if (item.type === "reset") {
      cursor = item.head;
      handlers.reset(item.head);
    } else if (item.type === "typing") {
      handlers.typing(item);
    } else if (item.type === "pong") {
      // Heard: the link is alive (noted in onmessage).
    } else if (Number.isInteger(item.seq)) {
      if (item.seq <= cursor) return; // seen before this reconnection
      if (item.seq !== cursor + 1) console.warn(`missive: events ${cursor + 1}..${item.seq - 1} skipped`);
      cursor = item.seq;
      try {
        handlers.event(item);
      } catch (error) {
        console.error("missive: could not apply event", item, error);
      }
    }
  }

  async function closed(code, token) {
    if (!running) return;
    setStatus(navigator.onLine ? "connecting" : "offline");
    if (code === CLOSE_SESSION_ENDED && refusals++ < 2) {
      // The token was refused (expired, or the server no longer knows it): a fresh one, and
      // straight back. If the session itself is over, the refresh fails and we stop.
      try {
        await session.refresh(token);
        return connect();
      } catch (error) {
        if (error instanceof SignedOut) return stop();
      }
    }
    retryLater();
  }

  // Exponential back-off with jitter, so a restarted server is not met by every client at
  // the same instant.
  function retryLater() {
    if (!running || retryTimer) return;
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
    attempt += 1;
    retryTimer = setTimeout(connect, ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** Drops the current socket without waiting for a close handshake a dead link never ends. */
  function abandon(reconnect) {
    const ws = socket;
    socket = null;
    if (ws instanceof WebSocket) {
      ws.onclose = ws.onmessage = ws.onopen = null;
      try {
        ws.close(CLOSE_ABANDONED);
      } catch {
        // already closing
      }
    }
    if (reconnect) retryLater();
  }

  function reconnectNow() {
    if (!running) return;
    abandon(false);
    clearTimeout(retryTimer);
    retryTimer = null;
    attempt = 0;
    connect();
  }

  const onOffline = () => {
    abandon(false);
    clearTimeout(retryTimer);
    retryTimer = null;
    setStatus("offline");
  };
  const onVisible = () => {
    if (document.visibilityState === "visible" && !socket) reconnectNow();
  };
  /** Asks a quiet open socket whether it is still there; gives up one that does not answer. */
  function checkAlive(now) {
    if (!(socket instanceof WebSocket) || socket.readyState !== WebSocket.OPEN) return;
    if (pingSentAt && now - pingSentAt > PONG_WAIT_MS) return abandon(true);
    if (!pingSentAt && now - lastHeard > QUIET_MS) {
      pingSentAt = now;
      socket.send(JSON.stringify({ type: "ping" }));
    }
  }

  const tick = () => {
    const now = Date.now();
    checkAlive(now);
    if (now - lastTick > SLEEP_GAP_MS) reconnectNow();
    // Back online without an "online" event (some platforms skip it): try again.
    else if (!socket && !retryTimer && navigator.onLine) connect();
    lastTick = now;
  };

  function stop() {
    running = false;
    abandon(false);
    clearTimeout(retryTimer);
    clearInterval(tickTimer);
    removeEventListener("online", reconnectNow);
    removeEventListener("offline", onOffline);
    document.removeEventListener("visibilitychange", onVisible);
  }

  return {
    /** Starts following the stream after `head` (the position the caller's state is at). */
    start(head) {
      running = true;
      cursor = head;
      addEventListener("online", reconnectNow);
      addEventListener("offline", onOffline);
      document.addEventListener("visibilitychange", onVisible);
      lastTick = Date.now();
      tickTimer = setInterval(tick, TICK_MS);
      connect();
    },
    stop,
    reconnectNow,
    /**
     * Something else just reached the server (a send went through): if the stream is
     * waiting out its back-off, it need not wait any longer.
     */
    nudge() {
      if (running && !socket && retryTimer) {
        attempt = 0;
        connect();
      }
    },
    get status() {
      return status;
    },
    /** Tells the conversation's other members we are typing (dropped when not connected). */
    typing(conversationId) {
      if (socket instanceof WebSocket && socket.readyState === WebSocket.OPEN && status === "online") {
        socket.send(JSON.stringify({ type: "typing", conversation_id: conversationId }));
      }
    },
  };
}
