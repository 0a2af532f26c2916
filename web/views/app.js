// The signed-in app: wires the store, the live stream and the outbox together, lays out the
// conversation list beside the open conversation (one at a time on a phone), routes on the
// URL's hash (#/c/42), and shows the connection banner, toasts and screen-reader notices.

import { h } from "../lib/dom.js";
import { conversationTitle, nameOf } from "../lib/format.js";
import { createLive } from "../lib/live.js";
import { createOutbox } from "../lib/outbox.js";
import { createStore } from "../lib/store.js";
import { createConversationView } from "./conversation.js";
import { createSidebar } from "./sidebar.js";

/** How long the stream may be down before the banner says so (a restart blinks by). */
const BANNER_DELAY_MS = 1_500;

const ROUTE = /^#\/c\/([1-9][0-9]*)$/;

export async function startApp(root, { session, api, user, announce }) {
  const store = createStore(api, user);
  // The outbox tells the stream when a send gets through: proof the server is back.
  const outbox = createOutbox(api, store, { onDelivered: () => live.nudge() });
  const banner = h("div", { class: "banner", role: "status", hidden: true });
  const toastBox = h("div", { class: "toast", role: "status", hidden: true });
  let bannerTimer = null;
  let toastTimer = null;

  const live = createLive(session, {
    event: store.apply,
    reset: () => store.reset(),
    ready: () => {
      showBanner(null);
      outbox.retryAll(); // the server is reachable again: whatever waits goes now
    },
    typing: store.noteTyping,
    status: (status) => {
      if (status === "online") showBanner(null);
      else if (status === "offline")
        showBanner("You are offline. Messages will be sent when the connection returns.");
      else if (!bannerTimer && banner.hidden) {
        bannerTimer = setTimeout(() => showBanner("Connection lost. Reconnecting…"), BANNER_DELAY_MS);
      }
    },
  });

  function showBanner(text) {
    clearTimeout(bannerTimer);
    bannerTimer = null;
    banner.hidden = text === null;
    banner.textContent = text ?? "";
  }

  function toast(text) {
    clearTimeout(toastTimer);
    toastBox.textContent = text;
    toastBox.hidden = false;
    toastTimer = setTimeout(() => {
      toastBox.hidden = true;
    }, 5_000);
  }

  const navigate = (id) => {
    location.hash = id ? `#/c/${id}` : "#/";
  };

  const ctx = {
    session,
    api,
    store,
    outbox,
    live,
    navigate,
    toast,
    logout: () => session.logout(),
  };
  const sidebar = createSidebar(ctx);
  const conversation = createConversationView(ctx);
  const shell = h(
    "div",
    { class: "shell", dataset: { view: "list" } },
    banner,
    h("div", { class: "panes" }, sidebar.el, conversation.el),
    toastBox,
  );
  root.replaceChildren(shell);

  let shownId = null;
  function route() {
    const match = ROUTE.exec(location.hash);
    const id = match ? Number(match[1]) : null;
    const previous = shownId;
    shownId = id;
    if (id === null) store.open(null);
    conversation.show(id);
    shell.dataset.view = id === null ? "list" : "conversation";
    sidebar.render();
    // Back to the list (on a phone): the keyboard focus returns to where the user left it.
    if (id === null && previous !== null) sidebar.focusConversation(previous);
  }

  function renderAll() {
    sidebar.render();
    const unread = store.unreadTotal();
    document.title = unread ? `(${unread}) missive` : "missive";
  }
  const unsubscribe = store.subscribe(renderAll);

  // Incoming messages, told to screen readers; a burst (catching up) as one sentence.
  let heard = [];
  let heardTimer = null;
  store.onIncoming((message) => {
    heard.push(message);
    heardTimer ??= setTimeout(() => {
      const batch = heard;
      heard = [];
      heardTimer = null;
      if (batch.length > 3) return announce(`${batch.length} new messages`);
      for (const one of batch) {
        const sender = nameOf(store, one.sender_id);
        if (one.conversation_id === conversation.openId) announce(`${sender}: ${one.content ?? ""}`);
        else
          announce(
            `New message from ${sender} in ${conversationTitle(store, store.conversation(one.conversation_id))}`,
          );
      }
    }, 500);
  });

  store.onRemoved((id) => {
    if (conversation.openId === id) {
      navigate(null);
      toast("You are no longer a member of that group.");
    }
  });

  // Order matters: the stream's position first, then the state, then the stream from that
  // position. Whatever happens while the state loads is replayed; nothing falls between.
  const head = await retrying(async () => (await api.eventsHead()).head, toast);
  await retrying(() => store.loadConversations(), toast);
  live.start(head);
  addEventListener("hashchange", route);
  route();

  return {
    stop() {
      live.stop();
      outbox.clear();
      unsubscribe();
      removeEventListener("hashchange", route);
      clearTimeout(bannerTimer);
      clearTimeout(toastTimer);
      clearTimeout(heardTimer);
      document.title = "missive";
      if (location.hash) history.replaceState(null, "", location.pathname);
    },
  };
}

/** Runs `task` until it succeeds, waiting longer after each network failure. */
async function retrying(task, toast) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await task();
    } catch (error) {
      if (!error.transient) throw error;
      if (attempt === 1) toast("Cannot reach the server. Retrying…");
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }
}
