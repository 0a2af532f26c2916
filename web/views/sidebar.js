// The conversation list: direct chats and groups, most recent first, each with its latest
// message, time and unread count, updated live. Plus the buttons that start new ones.

import { h, keyed, srOnly } from "../lib/dom.js";
import { conversationTitle, displayName, preview, shortTime, typingText } from "../lib/format.js";
import { newChatDialog, newGroupDialog } from "./dialogs.js";

export function createSidebar(ctx) {
  const { store } = ctx;
  const list = h("ul", { class: "conversation-list", "aria-label": "Conversations" });
  const empty = h("p", { class: "empty-list", text: "No conversations yet. Start one with “New chat”." });
  const more = h("button", {
    type: "button",
    class: "link-button more",
    text: "Show older conversations",
    onclick: async () => {
      more.disabled = true;
      try {
        await store.loadConversations({ more: true });
      } catch (error) {
        ctx.toast(`Could not load more conversations: ${error.message}`);
      } finally {
        more.disabled = false;
      }
    },
  });
  const who = h("span", { class: "me-name" });
  const el = h(
    "nav",
    { class: "sidebar", "aria-label": "Conversations" },
    h(
      "header",
      { class: "sidebar-head" },
      h("h1", { class: "brand", text: "missive" }),
      h(
        "div",
        { class: "me" },
        who,
        h("button", { type: "button", class: "small", text: "Log out", onclick: () => ctx.logout() }),
      ),
    ),
    h(
      "div",
      { class: "sidebar-actions" },
      h("button", { type: "button", class: "primary", text: "New chat", onclick: () => newChatDialog(ctx) }),
      h("button", { type: "button", text: "New group", onclick: () => newGroupDialog(ctx) }),
    ),
    h("div", { class: "conversation-scroll" }, list, empty, more),
  );

  function item(summary) {
    const title = conversationTitle(store, summary);
    const typing = store.typingIn(summary.id);
    const line = typing.length ? typingText(store, typing) : preview(store, summary);
    const active = summary.id === store.openId;
    const unread = summary.unread_count;
    return { summary, title, line, active, unread, typing: typing.length > 0 };
  }

  function render() {
    who.textContent = displayName(store.user(store.me.id));
    const items = store.conversationList().map(item);
    empty.hidden = items.length > 0 || !store.conversationsLoaded;
    more.hidden = !store.hasMoreConversations;
    keyed(
      list,
      items,
      (entry) => entry.summary.id,
      (entry) =>
        [
          entry.title,
          entry.line,
          entry.active,
          entry.unread,
          entry.typing,
          entry.summary.last_activity_at,
          entry.summary.kind,
        ].join("\u0001"),
      renderItem,
    );
  }

  function renderItem({ summary, title, line, active, unread, typing }) {
    const time = summary.last_message?.created_at ?? summary.last_activity_at;
    return h(
      "li",
      { class: `conversation-item${active ? " active" : ""}${unread ? " unread" : ""}` },
      h(
        "a",
        {
          href: `#/c/${summary.id}`,
          "aria-current": active ? "page" : null,
          dataset: { conversationId: String(summary.id) },
        },
        h(
          "span",
          { class: `avatar ${summary.kind}`, "aria-hidden": "true" },
          summary.kind === "group" ? "#" : initial(title),
        ),
        h(
          "span",
          { class: "conversation-text" },
          h(
            "span",
            { class: "conversation-top" },
            h("span", { class: "conversation-title", text: title }),
            h("time", { datetime: time, text: shortTime(time) }),
          ),
          h(
            "span",
            { class: "conversation-bottom" },
            h("span", { class: `conversation-preview${typing ? " typing" : ""}`, text: line }),
            unread > 0 &&
              h(
                "span",
                { class: "badge" },
                h("span", { "aria-hidden": "true", text: unread > 99 ? "99+" : String(unread) }),
                srOnly(`, ${unread} unread`),
              ),
          ),
        ),
      ),
    );
  }

  function focusConversation(id) {
    list.querySelector(`a[data-conversation-id="${Number(id)}"]`)?.focus();
  }

  return { el, render, focusConversation };
}

function initial(title) {
  return (title.trim()[0] ?? "?").toUpperCase();
}
