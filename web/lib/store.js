// The client's picture of the signed-in user's world: conversations (the list's summaries),
// the messages of the conversations opened so far, members and their read positions, who
// is typing, the people we know by id, and the messages still being sent.
//
// It changes in two ways: REST answers (pages, summaries) and live events. Both may report
// the same thing, in either order, any number of times, so every change is idempotent and
// keyed: messages by id (the fresher version wins), summaries by their `last_seq`. Views
// subscribe and re-render whatever they show; changes are batched into one notification.

import { ApiError } from "./api.js";

const TYPING_SHOWN_MS = 5_000;
const READ_DELAY_MS = 300;
const REFRESH_DELAY_MS = 300;

const time = (iso) => (iso ? Date.parse(iso) : 0);

/** Of two versions of a message, the one to keep: deletion is final, then the latest edit. */
function fresher(held, incoming) {
  if (held.deleted) return held;
  if (incoming.deleted) return incoming;
  return time(incoming.edited_at) >= time(held.edited_at) ? incoming : held;
}

function createThread(id) {
  return {
    id,
    messages: new Map(), // id -> message
    sorted: null, // cache of messages by seq
    loaded: false, // the newest page is in
    loading: false,
    before: null, // cursor for the next older page
    hasMore: false,
    error: null,
    members: new Map(), // user id -> { role, last_read_seq, joined_at }
    membersLoaded: false,
  };
}

export function createStore(api, me) {
  const users = new Map([[me.id, { id: me.id, username: me.username, full_name: me.full_name }]]);
  const conversations = new Map();
  const threads = new Map();
  const typing = new Map(); // conversation id -> Map(user id -> shown until)
  const hidden = new Set(); // message ids hidden for me: a page fetched earlier must not revive them
  const outbox = []; // messages being sent, see outbox.js
  const acked = new Set(); // ids of messages whose send this tab saw answered
  const listeners = new Set();
  const incomingListeners = new Set();
  const removedListeners = new Set();
  const userRequests = new Map();
  const refreshTimers = new Map();
  const readTimers = new Map();
  const membersTimers = new Map();
  let listCursor = null;
  let listLoaded = false;
  let queued = null; // events held back while a reset refetches
  let notifyScheduled = false;
  let openId = null;

  function notify() {
    if (notifyScheduled) return;
    notifyScheduled = true;
    queueMicrotask(() => {
      notifyScheduled = false;
      for (const listener of listeners) listener();
    });
  }

  // ---- people -------------------------------------------------------------------------

  function learnUser(user) {
    if (user?.id == null) return;
    const known = users.get(user.id);
    if (!known || known.username !== user.username || known.full_name !== user.full_name) {
      users.set(user.id, { id: user.id, username: user.username, full_name: user.full_name });
      notify();
    }
  }

  /** A profile that answers 404 is a deleted account (format.js shows "Deleted user"). */
  function learnDeleted(id) {
    users.set(id, { id, username: `deleted:${id}`, full_name: null, deleted: true });
    // Our direct conversation with them is closed now: the server has its new summary.
    for (const summary of conversations.values()) {
      if (summary.peer?.id === id && !summary.closed) refreshConversation(summary.id);
    }
    notify();
  }

  /** The user if known; otherwise null, and they are fetched (a notification follows). */
  function user(id) {
    const known = users.get(id);
    if (known) return known;
    if (!userRequests.has(id)) {
      userRequests.set(
        id,
        api.user(id).then(learnUser, (error) => {
          if (error instanceof ApiError && error.status === 404) learnDeleted(id);
          else userRequests.delete(id); // try again on a later render
        }),
      );
    }
    return null;
  }

  /** Someone left a group: perhaps by deleting their account, so the name we hold is stale. */
  function recheckUser(id) {
    const known = users.get(id);
    if (!known || known.deleted || id === me.id) return;
    api.user(id).then(learnUser, (error) => {
      if (error instanceof ApiError && error.status === 404) learnDeleted(id);
    });
  }

  // ---- conversation summaries ---------------------------------------------------------

  function upsertConversation(incoming) {
    if (incoming.peer) learnUser(incoming.peer);
    const held = conversations.get(incoming.id);
    if (held && held.last_seq > incoming.last_seq) {
      // An older snapshot (a replayed event, or a REST answer overtaken by live events):
      // take what describes the conversation, keep our newer counters.
      const { last_seq, last_message, last_activity_at, unread_count, last_read_seq } = held;
      conversations.set(incoming.id, {
        ...incoming,
        last_seq,
        last_message,
        last_activity_at,
        unread_count,
        last_read_seq: Math.max(last_read_seq, incoming.last_read_seq),
      });
    } else {
      conversations.set(incoming.id, { ...incoming });
    }
    notify();
  }

  /** Refetches one summary soon: counts the live events cannot settle on their own. */
  function refreshConversation(id) {
    clearTimeout(refreshTimers.get(id));
    refreshTimers.set(
      id,
      setTimeout(async () => {
        refreshTimers.delete(id);
        try {
          const fresh = await api.conversation(id);
          const held = conversations.get(id);
          if (!held || fresh.last_seq >= held.last_seq) conversations.set(id, fresh);
          else upsertConversation(fresh);
          if (fresh.peer) learnUser(fresh.peer);
          notify();
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) forgetConversation(id);
        }
      }, REFRESH_DELAY_MS),
    );
  }

  function forgetConversation(id) {
    if (!conversations.delete(id) && !threads.has(id)) return;
    threads.delete(id);
    typing.delete(id);
    notify();
  }

  /** A message now part of a conversation: moves its summary's counters along. */
  function noteInSummary(message, eventType) {
    const summary = conversations.get(message.conversation_id);
    if (!summary) {
      refreshConversation(message.conversation_id); // one we have not listed yet
      return;
    }
    if (message.seq > summary.last_seq) {
      summary.last_seq = message.seq;
      summary.last_message = message;
      summary.last_activity_at = message.created_at;
      if (
        message.sender_id !== me.id &&
        message.kind === "text" &&
        !message.deleted &&
        message.seq > summary.last_read_seq
      ) {
        summary.unread_count += 1;
      }
    } else if (summary.last_message?.id === message.id) {
      summary.last_message = message;
    }
    if (
      eventType === "message.deleted" &&
      message.sender_id !== me.id &&
      message.seq > summary.last_read_seq
    ) {
      refreshConversation(summary.id); // an unread message went: the server has the count
    }
    notify();
  }

  // ---- messages -----------------------------------------------------------------------

  function putMessage(message) {
    if (hidden.has(message.id)) return;
    const thread = threads.get(message.conversation_id);
    if (!thread) return; // not opened yet: its first page will bring it
    const held = thread.messages.get(message.id);
    const kept = held ? fresher(held, message) : message;
    if (kept !== held) {
      thread.messages.set(message.id, kept);
      thread.sorted = null;
      notify();
    }
  }

  function dropMessage(conversationId, messageId) {
    hidden.add(messageId);
    const thread = threads.get(conversationId);
    if (thread?.messages.delete(messageId)) {
      thread.sorted = null;
      notify();
    }
  }

  // ---- the outbox's half that lives with the state ------------------------------------

  // Our own message arrived live before the answer to its send: it confirms the oldest send
  // of the same text still waiting in that conversation, which stops being shown as pending.
  // (Should it really be a twin sent from another device, the send's own answer still comes,
  // with another id, and both are shown: both exist.)
  function claim(message) {
    if (acked.has(message.id) || message.kind !== "text") return;
    if (outbox.some((item) => item.claimedId === message.id)) return;
    const item = outbox.find(
      (candidate) =>
        candidate.conversationId === message.conversation_id &&
        candidate.claimedId === null &&
        candidate.content === message.content,
    );
    if (item) {
      item.claimedId = message.id;
      notify();
    }
  }

  // ---- live events --------------------------------------------------------------------

  function apply(event) {
    if (queued) {
      queued.push(event);
      return;
    }
    const id = event.conversation_id;
    switch (event.type) {
      case "conversation.created":
        if (event.conversation) upsertConversation(event.conversation);
        else refreshConversation(id); // a replay for a group we have since left: 404, ignored
        break;
      case "message.created":
      case "message.edited":
      case "message.deleted": {
        const message = event.message;
        if (!message) break;
        if (message.sender_id === me.id && event.type === "message.created") claim(message);
        putMessage(message);
        noteInSummary(message, event.type);
        if (event.type === "message.created") {
          stopTyping(id, message.sender_id);
          if (message.sender_id !== me.id) for (const listener of incomingListeners) listener(message);
        }
        break;
      }
      case "message.hidden":
        dropMessage(id, event.message_id);
        // It may have been the preview, or unread: the server has the new summary.
        if (conversations.has(id)) refreshConversation(id);
        break;
      case "conversation.read":
        applyRead(id, event.user_id, event.last_read_seq);
        break;
      case "member.added":
      case "member.removed":
      case "member.updated":
      case "conversation.updated":
        if (event.message) {
          putMessage(event.message);
          noteInSummary(event.message, event.type);
        }
        if (event.conversation) upsertConversation(event.conversation);
        if (event.type === "member.removed" && event.user_id === me.id && !event.conversation) {
          forgetConversation(id);
          for (const listener of removedListeners) listener(id);
        } else {
          if (event.type === "member.removed" && event.user_id != null) recheckUser(event.user_id);
          if (threads.get(id)?.membersLoaded) reloadMembersSoon(id);
        }
        break;
      default:
        // A type this client does not know yet: the summary will show its effect.
        if (conversations.has(id)) refreshConversation(id);
    }
  }

  function applyRead(conversationId, userId, seq) {
    const thread = threads.get(conversationId);
    const member = thread?.members.get(userId);
    if (member && seq > member.last_read_seq) {
      member.last_read_seq = seq;
      notify();
    }
    if (userId !== me.id) return;
    const summary = conversations.get(conversationId);
    if (!summary || seq <= summary.last_read_seq) return;
    summary.last_read_seq = seq;
    if (seq >= summary.last_seq) summary.unread_count = 0;
    else refreshConversation(conversationId); // read part of them: only the server can count
    notify();
  }

  // ---- typing -------------------------------------------------------------------------

  function noteTyping({ conversation_id: id, user_id: userId }) {
    if (userId === me.id) return;
    let who = typing.get(id);
    if (!who) typing.set(id, (who = new Map()));
    who.set(userId, Date.now() + TYPING_SHOWN_MS);
    setTimeout(notify, TYPING_SHOWN_MS + 50);
    notify();
  }

  function stopTyping(conversationId, userId) {
    if (typing.get(conversationId)?.delete(userId)) notify();
  }

  // ---- REST loads ---------------------------------------------------------------------

  async function loadConversations({ more = false } = {}) {
    const page = await api.conversations(more ? listCursor : undefined);
    for (const conversation of page.conversations) upsertConversation(conversation);
    listCursor = page.next_cursor;
    listLoaded = true;
    notify();
  }

  /** The newest page; `replace`: instead of what the thread holds (after a reset). */
  async function loadNewest(thread, { replace = false } = {}) {
    thread.loading = true;
    thread.error = null;
    notify();
    try {
      const page = await api.messages(thread.id);
      if (replace) {
        thread.messages.clear();
        thread.sorted = null;
      }
      for (const message of page.messages) putMessage(message);
      thread.before = page.next_cursor;
      thread.hasMore = page.has_more;
      thread.loaded = true;
    } catch (error) {
      thread.error = error;
    } finally {
      thread.loading = false;
      notify();
    }
  }

  async function loadMembers(thread) {
    let cursor;
    const members = new Map();
    try {
      do {
        const page = await api.members(thread.id, cursor);
        for (const member of page.members) {
          learnUser(member.user);
          members.set(member.user.id, {
            role: member.role,
            last_read_seq: member.last_read_seq,
            joined_at: member.joined_at,
          });
        }
        cursor = page.next_cursor;
      } while (cursor);
    } catch {
      return; // shown without receipts; a later change reloads them
    }
    // Receipts that came live while the page loaded are newer than the page.
    for (const [id, member] of members) {
      const held = thread.members.get(id);
      if (held) member.last_read_seq = Math.max(member.last_read_seq, held.last_read_seq);
    }
    thread.members = members;
    thread.membersLoaded = true;
    notify();
  }

  function reloadMembersSoon(id) {
    clearTimeout(membersTimers.get(id));
    membersTimers.set(
      id,
      setTimeout(() => {
        membersTimers.delete(id);
        const thread = threads.get(id);
        if (thread) loadMembers(thread);
      }, REFRESH_DELAY_MS),
    );
  }

  function reset() {
    // Everything may have changed while we were away too long: refetch over REST, holding
    // back the events that arrive meanwhile, then apply them over the fresh state.
    if (queued) return;
    queued = [];
    (async () => {
      try {
        const page = await api.conversations();
        conversations.clear();
        listCursor = null;
        for (const conversation of page.conversations) upsertConversation(conversation);
        listCursor = page.next_cursor;
        for (const id of [...threads.keys()]) if (id !== openId) threads.delete(id);
        const open = threads.get(openId);
        if (open) await Promise.all([loadNewest(open, { replace: true }), loadMembers(open)]);
      } catch (error) {
        console.warn("missive: refetch after reset failed", error);
      } finally {
        const held = queued;
        queued = null;
        for (const event of held) apply(event);
        notify();
      }
    })();
  }

  return {
    me,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onIncoming(listener) {
      incomingListeners.add(listener);
    },
    onRemoved(listener) {
      removedListeners.add(listener);
    },
    user,
    learnUser,

    // summaries
    loadConversations,
    get hasMoreConversations() {
      return Boolean(listCursor);
    },
    get conversationsLoaded() {
      return listLoaded;
    },
    conversation: (id) => conversations.get(id) ?? null,
    /** Summaries, most recent activity first. */
    conversationList() {
      return [...conversations.values()].sort(
        (a, b) => time(b.last_activity_at) - time(a.last_activity_at) || b.id - a.id,
      );
    },
    unreadTotal() {
      let total = 0;
      for (const summary of conversations.values()) total += summary.unread_count;
      return total;
    },
    upsertConversation,
    forgetConversation,
    refreshConversation,

    // threads
    /** Marks the conversation as the one on screen, loading what it needs. */
    open(id) {
      openId = id;
      if (id === null) return null;
      let thread = threads.get(id);
      if (!thread) threads.set(id, (thread = createThread(id)));
      if (!thread.loaded && !thread.loading) loadNewest(thread);
      if (!thread.membersLoaded) loadMembers(thread);
      if (!conversations.has(id)) refreshConversation(id);
      return thread;
    },
    get openId() {
      return openId;
    },
    thread: (id) => threads.get(id) ?? null,
    /** The thread's messages by seq (cached until it changes). */
    messagesOf(thread) {
      thread.sorted ??= [...thread.messages.values()].sort((a, b) => a.seq - b.seq);
      return thread.sorted;
    },
    async loadOlder(thread) {
      if (!thread.hasMore || thread.loading) return;
      thread.loading = true;
      thread.error = null;
      notify();
      try {
        const page = await api.messages(thread.id, { before: thread.before });
        for (const message of page.messages) putMessage(message);
        thread.before = page.next_cursor;
        thread.hasMore = page.has_more;
      } catch (error) {
        thread.error = error;
      } finally {
        thread.loading = false;
        notify();
      }
    },
    reloadThread(thread) {
      if (!thread.loading) loadNewest(thread);
    },
    reloadMembers: reloadMembersSoon,
    putMessage,
    /** Our own send, answered: shown at once, whether or not its event has come. */
    applySent(message) {
      acked.add(message.id);
      putMessage(message);
      noteInSummary(message, "message.created");
    },
    /** Our own edit, delete or hide, answered: applied now rather than when its event comes. */
    applyOwnChange(message) {
      putMessage(message);
      noteInSummary(message, message.deleted ? "message.deleted" : "message.edited");
    },
    dropMessage,

    /** Moves our read position forward to `seq` (batched; never backward). */
    markRead(id, seq) {
      const summary = conversations.get(id);
      if (!summary || seq <= summary.last_read_seq) return;
      const timer = readTimers.get(id);
      if (timer && timer.seq >= seq) return;
      clearTimeout(timer?.handle);
      const handle = setTimeout(async () => {
        readTimers.delete(id);
        try {
          const read = await api.markRead(id, seq);
          const held = conversations.get(id);
          if (held && read.last_read_seq >= held.last_read_seq) {
            held.last_read_seq = read.last_read_seq;
            held.unread_count = read.unread_count;
          }
          const member = threads.get(id)?.members.get(me.id);
          if (member) member.last_read_seq = Math.max(member.last_read_seq, read.last_read_seq);
          notify();
        } catch {
          // Offline: the position moves again with the next message seen.
        }
      }, READ_DELAY_MS);
      readTimers.set(id, { handle, seq });
    },

    // typing
    noteTyping,
    /** Ids of the users typing in the conversation now. */
    typingIn(id) {
      const who = typing.get(id);
      if (!who) return [];
      const now = Date.now();
      for (const [userId, until] of who) if (until <= now) who.delete(userId);
      return [...who.keys()];
    },

    // live
    apply,
    reset,

    // outbox state (outbox.js does the sending)
    outbox,
    outboxChanged: notify,
  };
}
