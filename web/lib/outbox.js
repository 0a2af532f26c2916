// Sending messages so that each is stored once, whatever the network does.
//
// Each message gets an Idempotency-Key when it is written, and every attempt to send it uses
// that same key: if an answer is lost (offline, a server restart, a timeout), sending again
// returns the message the first attempt stored instead of storing a second. Until the server
// confirms it, by its answer or by the live event, the message is shown as pending. Failed
// attempts are retried with back-off, and at once when the connection comes back. The queue
// is kept in sessionStorage, so even a reload mid-send retries with the same keys.
//
// Within a conversation, messages go one at a time, in the order they were written: sent in
// parallel, retries after an outage could store them out of order.

import { ApiError } from "./api.js";
import { SignedOut } from "./session.js";

/** Automatic attempts before a message is shown as not sent (it can still be retried). */
const AUTOMATIC_ATTEMPTS = 6;
const MAX_DELAY_MS = 30_000;
/** Why a message to a direct conversation whose other member deleted their account failed. */
const CLOSED_REASON = "this person deleted their account";

/** A fresh Idempotency-Key: 128 random bits. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `onDelivered()` is called after each successful send (the server is reachable). */
export function createOutbox(api, store, { onDelivered = () => {} } = {}) {
  const storageKey = `missive.outbox.${store.me.id}`;
  const items = store.outbox;

  function persist() {
    const kept = items.map(({ key, conversationId, content, createdAt }) => ({
      key,
      conversationId,
      content,
      createdAt,
    }));
    try {
      if (kept.length) sessionStorage.setItem(storageKey, JSON.stringify(kept));
      else sessionStorage.removeItem(storageKey);
    } catch {
      // Storage full or disabled: sending still works, only a reload would lose the queue.
    }
  }

  function add(fields) {
    const item = {
      state: "queued", // "queued" | "sending" | "waiting" (to retry) | "failed"
      attempts: 0,
      error: null,
      permanent: false, // refused by the server: retrying cannot help
      claimedId: null, // the id of the live message that confirmed it, if that came first
      timer: null,
      ...fields,
    };
    items.push(item);
    return item;
  }

  function remove(item) {
    clearTimeout(item.timer);
    const index = items.indexOf(item);
    if (index >= 0) items.splice(index, 1);
    persist();
    store.outboxChanged();
    pump(item.conversationId);
  }

  /** Starts the conversation's oldest unsent message if nothing of it is in flight. */
  function pump(conversationId) {
    for (const item of items) {
      if (item.conversationId !== conversationId || item.permanent) continue;
      if (item.state === "queued") attempt(item);
      return; // one at a time: later ones wait for this one, whatever its state
    }
  }

  async function attempt(item) {
    clearTimeout(item.timer);
    item.timer = null;
    item.state = "sending";
    store.outboxChanged();
    try {
      const message = await api.send(item.conversationId, item.content, item.key);
      store.applySent(message);
      remove(item);
      onDelivered();
    } catch (error) {
      if (!items.includes(item)) return; // discarded meanwhile
      if (error instanceof SignedOut) return; // everything is discarded with the session
      item.attempts += 1;
      item.error = error.message;
      if (error instanceof ApiError && error.code === "conversation_closed") {
        // Nothing more can go to this conversation: this message and every one queued after
        // it are not sent, and the conversation is refetched so it shows as closed.
        for (const other of items) {
          if (other.conversationId !== item.conversationId || other.claimedId !== null) continue;
          if (other !== item && other.state !== "queued") continue;
          other.state = "failed";
          other.permanent = true;
          other.error = CLOSED_REASON;
        }
        store.refreshConversation(item.conversationId);
      } else if (!error.transient) {
        item.state = "failed";
        item.permanent = true; // skipped: the next one may go
        queueMicrotask(() => pump(item.conversationId));
      } else if (item.attempts >= AUTOMATIC_ATTEMPTS) {
        item.state = "failed";
      } else {
        item.state = "waiting";
        const backoff = Math.min(MAX_DELAY_MS, 1000 * 2 ** (item.attempts - 1));
        const delay = error.retryAfter
          ? error.retryAfter * 1000
          : backoff / 2 + (Math.random() * backoff) / 2;
        item.timer = setTimeout(() => attempt(item), delay);
      }
      store.outboxChanged();
    }
  }

  // Messages a reload interrupted: sent again under their own keys.
  try {
    const saved = JSON.parse(sessionStorage.getItem(storageKey) ?? "[]");
    for (const fields of saved) add(fields);
    for (const id of new Set(items.map((item) => item.conversationId))) pump(id);
  } catch {
    sessionStorage.removeItem(storageKey);
  }

  return {
    /** Queues `content` for the conversation and starts sending it. */
    send(conversationId, content) {
      add({ key: newKey(), conversationId, content, createdAt: Date.now() });
      persist();
      store.outboxChanged();
      pump(conversationId);
    },
    /** Unconfirmed sends of the conversation, oldest first (those a live event confirmed left out). */
    pendingIn(conversationId) {
      return items.filter((item) => item.conversationId === conversationId && item.claimedId === null);
    },
    retry(item) {
      if (!item.permanent && item.state !== "sending") attempt(item);
    },
    /** The connection is back: what waits to be retried is tried now, not at its timer. */
    retryAll() {
      const heads = new Map();
      for (const item of items) {
        if (!item.permanent && !heads.has(item.conversationId)) heads.set(item.conversationId, item);
      }
      for (const item of heads.values())
        if (item.state === "waiting" || item.state === "failed") attempt(item);
    },
    discard: remove,
    /** Forgets everything (signing out). */
    clear() {
      for (const item of items) clearTimeout(item.timer);
      items.length = 0;
      sessionStorage.removeItem(storageKey);
    },
  };
}
