// One open conversation: its history (scrolling back loads older pages), messages being
// sent, who has seen what, who is typing, and the composer. Read position moves forward as
// messages actually appear on screen while the page is visible.

import { ApiError } from "../lib/api.js";
import { h, keyed, replace, srOnly } from "../lib/dom.js";
import {
  conversationTitle,
  dayKey,
  dayLabel,
  displayName,
  fullTime,
  isDeletedUser,
  listOfNames,
  nameOf,
  noticeText,
  timeOf,
  typingText,
} from "../lib/format.js";
import { richText } from "../lib/text.js";
import { confirmDialog, historyDialog, membersDialog, messageActionsDialog } from "./dialogs.js";

/** Send a typing frame at most this often while the user types: the server passes on one
 * per person and conversation every 3 s (drops the rest), and others show it for 5 s. */
const TYPING_EVERY_MS = 3_100;
/** Within this many pixels of the bottom counts as "at the bottom": new messages follow. */
const BOTTOM_SLACK_PX = 80;

export function createConversationView(ctx) {
  const { store, outbox, api } = ctx;
  // The page's main landmark: the sidebar is the navigation beside it.
  const el = h("main", { class: "conversation-pane", "aria-label": "Conversation" });
  const drafts = new Map(); // conversation id -> unsent text
  let view = null; // the mounted conversation, see mount()

  function show(id) {
    if (view?.id === id) return;
    view?.destroy();
    view = null;
    if (id === null) {
      el.setAttribute("aria-label", "Conversation");
      replace(
        el,
        h("div", { class: "placeholder" }, h("p", { text: "Choose a conversation, or start a new one." })),
      );
      return;
    }
    view = mount(id);
  }

  function mount(id) {
    const thread = store.open(id);
    const title = h("h2", { id: "conversation-title", class: "conversation-name" });
    const subtitle = h("p", { class: "subtitle" });
    const membersButton = h("button", {
      type: "button",
      class: "small",
      text: "Members",
      hidden: true,
      onclick: () => membersDialog(ctx, id),
    });
    const olderButton = h("button", {
      type: "button",
      class: "link-button",
      text: "Load older messages",
      onclick: () => store.loadOlder(thread),
    });
    const historyStart = h("p", {
      class: "history-start",
      text: "This is the beginning of the conversation.",
    });
    const statusText = h("span");
    const tryAgain = h("button", {
      type: "button",
      class: "link-button",
      text: "Try again",
      hidden: true,
      onclick: () => (thread.loaded ? store.loadOlder(thread) : store.reloadThread(thread)),
    });
    const status = h("p", { class: "thread-status", role: "status" }, statusText, " ", tryAgain);
    const list = h("ol", { class: "messages", "aria-label": "Messages" });
    const scroller = h(
      "div",
      { class: "scroller", tabindex: "0", role: "region", "aria-label": "Message history" },
      h("div", { class: "history-top" }, olderButton, historyStart, status),
      list,
    );
    const jump = h("button", {
      type: "button",
      class: "jump",
      hidden: true,
      text: "Jump to latest",
      onclick: () => {
        scroller.scrollTop = scroller.scrollHeight;
        textarea.focus();
      },
    });
    const typingLine = h("p", { class: "typing-line", "aria-live": "polite" });
    const textarea = h("textarea", {
      id: "composer-input",
      rows: "1",
      placeholder: "Write a message",
      "aria-describedby": "composer-hint",
      autocomplete: "off",
    });
    const editBar = h(
      "div",
      { class: "edit-bar", hidden: true },
      h("span", { text: "Editing message" }),
      h("button", { type: "button", class: "small", text: "Cancel", onclick: () => stopEditing() }),
    );
    const sendButton = h("button", { type: "submit", class: "primary send", text: "Send" });
    const composer = h(
      "form",
      { class: "composer", "aria-label": "Write a message", onsubmit: onSubmit },
      editBar,
      h(
        "div",
        { class: "composer-row" },
        h("label", { for: "composer-input", class: "visually-hidden", text: "Message" }),
        textarea,
        sendButton,
      ),
      h("p", {
        id: "composer-hint",
        class: "visually-hidden",
        text: "Enter sends. Shift+Enter starts a new line.",
      }),
    );
    // In place of the composer once the other member of a direct conversation deleted their
    // account: the history stays readable, nothing more can be sent.
    const closedNotice = h("p", {
      class: "closed-notice",
      role: "status",
      hidden: true,
      text: "This person deleted their account; you can read but not send.",
    });

    replace(
      el,
      h(
        "header",
        { class: "conversation-head" },
        h("a", { href: "#/", class: "back icon-button", "aria-label": "Back to conversations", text: "‹" }),
        h("div", { class: "conversation-heading" }, title, subtitle),
        membersButton,
      ),
      scroller,
      jump,
      typingLine,
      composer,
      closedNotice,
    );

    let editing = null; // the message being edited
    let lastTypingSent = 0;
    let stickToBottom = true; // follow new messages (true until the user scrolls up)
    let firstKey = null;
    const visibleSeqs = new Set();

    textarea.value = drafts.get(id) ?? "";

    // ---- reading: what is on screen counts as read -----------------------------------

    const seen = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const seq = Number(entry.target.dataset.seq);
          const rootHeight = entry.rootBounds?.height ?? 0;
          const shown =
            entry.isIntersecting &&
            (entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= rootHeight / 2);
          if (shown) visibleSeqs.add(seq);
          else visibleSeqs.delete(seq);
        }
        markSeen();
      },
      { root: scroller, threshold: [0, 0.5, 1] },
    );

    function markSeen() {
      if (document.visibilityState !== "visible" || visibleSeqs.size === 0) return;
      store.markRead(id, Math.max(...visibleSeqs));
    }
    document.addEventListener("visibilitychange", markSeen);

    // Scrolling near the top loads the page before; the button does the same from the keyboard.
    const older = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting) && thread.loaded && !thread.error) {
          store.loadOlder(thread);
        }
      },
      { root: scroller, rootMargin: "200px 0px 0px 0px" },
    );
    older.observe(olderButton);

    scroller.addEventListener("scroll", () => {
      stickToBottom = distanceFromBottom() < BOTTOM_SLACK_PX;
      jump.hidden = stickToBottom;
    });

    function distanceFromBottom() {
      return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
    }

    // ---- rendering ----------------------------------------------------------------------

    function render() {
      const summary = store.conversation(id);
      const group = summary?.kind === "group";
      const name = conversationTitle(store, summary);
      title.textContent = summary ? name : thread.error ? "Conversation" : "…";
      el.setAttribute("aria-label", `Conversation: ${name}`);
      const closed = summary?.closed === true;
      subtitle.textContent = group
        ? `${summary.member_count} members`
        : closed || isDeletedUser(summary?.peer)
          ? "Account deleted"
          : summary?.peer
            ? `@${summary.peer.username}`
            : "";
      membersButton.hidden = !group;

      olderButton.hidden = !(thread.loaded && thread.hasMore);
      olderButton.disabled = thread.loading;
      historyStart.hidden = !(thread.loaded && !thread.hasMore);
      statusText.textContent = thread.error
        ? thread.error instanceof ApiError && thread.error.status === 404
          ? "This conversation does not exist, or you are not in it."
          : `Could not load messages: ${thread.error.message}`
        : thread.loading && !thread.loaded
          ? "Loading messages…"
          : "";
      const missing = thread.error instanceof ApiError && thread.error.status === 404;
      tryAgain.hidden = !thread.error || missing;
      composer.hidden = missing || closed;
      closedNotice.hidden = missing || !closed;
      typingLine.hidden = closed;
      if (closed && editing) stopEditing({ focus: false });

      const previousHeight = scroller.scrollHeight;
      const previousTop = scroller.scrollTop;
      const items = buildItems(summary);
      keyed(
        list,
        items,
        (item) => item.key,
        (item) => item.version,
        (item) => item.render(),
      );

      // Keep the reader's place: follow the bottom if they were there; when older messages
      // were put above, shift so what they were reading stays put.
      const newFirst = items.find((item) => item.message)?.key ?? null;
      if (stickToBottom) {
        scroller.scrollTop = scroller.scrollHeight;
      } else if (firstKey !== null && newFirst !== firstKey) {
        scroller.scrollTop = previousTop + (scroller.scrollHeight - previousHeight);
      }
      firstKey = newFirst;
      jump.hidden = stickToBottom || distanceFromBottom() < BOTTOM_SLACK_PX;

      typingLine.textContent = typingText(store, store.typingIn(id));

      // A short first page leaves the top in view: keep loading until it fills the screen.
      // (Not after a failure: that waits for "Try again", or it would retry in a loop.)
      if (thread.loaded && thread.hasMore && !thread.loading && !thread.error && scroller.scrollTop < 200) {
        store.loadOlder(thread);
      }
      // Reads that failed (offline) are made again once anything changes, reconnecting included.
      markSeen();
    }

    function buildItems(summary) {
      const items = [];
      const messages = store.messagesOf(thread);
      const group = summary?.kind === "group";
      const seenAfter = seenLine(messages, group);
      let day = null;
      let previousSender = null;
      for (const message of messages) {
        const thisDay = dayKey(message.created_at);
        if (thisDay !== day) {
          day = thisDay;
          previousSender = null;
          const label = dayLabel(message.created_at);
          items.push({ key: `day:${thisDay}`, version: label, render: () => dayItem(label) });
        }
        if (message.kind !== "text") {
          const text = noticeText(store, message);
          items.push({
            key: `m:${message.id}`,
            message,
            version: text,
            render: () => observe(noticeItem(message, text)),
          });
          previousSender = null;
          continue;
        }
        const sender = nameOf(store, message.sender_id);
        const showName = group && message.sender_id !== store.me.id && previousSender !== message.sender_id;
        previousSender = message.sender_id;
        items.push({
          key: `m:${message.id}`,
          message,
          version: [message.content, message.edited_at, message.deleted, sender, showName].join("\u0001"),
          render: () => observe(messageItem(message, sender, showName)),
        });
        if (seenAfter && seenAfter.id === message.id) {
          items.push({ key: "seen", version: seenAfter.text, render: () => seenItem(seenAfter.text) });
        }
      }
      for (const pending of outbox.pendingIn(id)) {
        items.push({
          key: `p:${pending.key}`,
          version: [pending.state, pending.error, pending.permanent].join("\u0001"),
          render: () => pendingItem(pending),
        });
      }
      return items;
    }

    /** Who has read our latest message: "Seen" (direct) or "Seen by …" (group). */
    function seenLine(messages, group) {
      let latest = null;
      for (let index = messages.length - 1; index >= 0; index -= 1) {
        const message = messages[index];
        if (message.sender_id === store.me.id && message.kind === "text" && !message.deleted) {
          latest = message;
          break;
        }
      }
      if (!latest) return null;
      const readers = [];
      const sent = Date.parse(latest.created_at);
      for (const [userId, member] of thread.members) {
        // A member who joined later starts with everything before their joining "read":
        // they did not see it, so they are not listed.
        if (
          userId !== store.me.id &&
          member.last_read_seq >= latest.seq &&
          Date.parse(member.joined_at) <= sent
        ) {
          readers.push(displayName(store.user(userId)));
        }
      }
      if (readers.length === 0) return null;
      return { id: latest.id, text: group ? `Seen by ${listOfNames(readers)}` : "Seen" };
    }

    function observe(node) {
      seen.observe(node);
      return node;
    }

    function dayItem(label) {
      return h("li", { class: "day" }, h("h3", { text: label }));
    }

    function noticeItem(message, text) {
      return h(
        "li",
        { class: "notice", dataset: { id: String(message.id), seq: String(message.seq) } },
        h("span", { text }),
        " ",
        h("time", {
          datetime: message.created_at,
          title: fullTime(message.created_at),
          text: timeOf(message.created_at),
        }),
      );
    }

    function messageItem(message, sender, showName) {
      const mine = message.sender_id === store.me.id;
      return h(
        "li",
        {
          class: `message ${mine ? "mine" : "theirs"}${message.deleted ? " deleted" : ""}`,
          dataset: { id: String(message.id), seq: String(message.seq) },
        },
        h(
          "div",
          { class: "bubble" },
          showName ? h("p", { class: "sender", text: sender }) : srOnly(`${sender}: `),
          message.deleted
            ? h("p", { class: "body tombstone", text: "This message was deleted" })
            : h("p", { class: "body" }, richText(message.content ?? "")),
          h(
            "p",
            { class: "meta" },
            h("time", {
              datetime: message.created_at,
              title: fullTime(message.created_at),
              text: timeOf(message.created_at),
            }),
            message.edited_at &&
              !message.deleted &&
              h("button", {
                type: "button",
                class: "edited",
                text: "edited",
                "aria-label": "Edited: show edit history",
                onclick: () => historyDialog(ctx, message),
              }),
          ),
        ),
        h("button", {
          type: "button",
          class: "message-actions icon-button",
          "aria-label": `Actions for ${mine ? "your" : `${sender}’s`} message`,
          "aria-haspopup": "dialog",
          text: "⋯",
          onclick: () => actOn(message),
        }),
      );
    }

    function seenItem(text) {
      return h("li", { class: "seen", text });
    }

    function pendingItem(pending) {
      const failed = pending.state === "failed";
      return h(
        "li",
        { class: `message mine pending${failed ? " failed" : ""}`, dataset: { state: pending.state } },
        h(
          "div",
          { class: "bubble" },
          srOnly("You: "),
          h("p", { class: "body" }, richText(pending.content)),
          h(
            "p",
            { class: "meta" },
            failed
              ? [
                  h("span", {
                    class: "status",
                    text: pending.permanent ? `Not sent: ${pending.error}` : "Not sent",
                  }),
                  !pending.permanent &&
                    h("button", {
                      type: "button",
                      class: "small",
                      text: "Retry",
                      onclick: () => outbox.retry(pending),
                    }),
                  h("button", {
                    type: "button",
                    class: "small",
                    text: "Discard",
                    onclick: () => outbox.discard(pending),
                  }),
                ]
              : h("span", {
                  class: "status",
                  text: pending.state === "waiting" ? "Not sent yet, retrying…" : "Sending…",
                }),
          ),
        ),
      );
    }

    // ---- acting on messages -----------------------------------------------------------

    async function actOn(message) {
      const closed = store.conversation(id)?.closed === true;
      const choice = await messageActionsDialog(ctx, message, { canEdit: !closed });
      try {
        if (choice === "edit") startEditing(message);
        else if (choice === "history") historyDialog(ctx, message);
        else if (choice === "delete") {
          const ok = await confirmDialog({
            title: "Delete for everyone?",
            body: "The message will be removed for everyone in the conversation.",
            confirmLabel: "Delete",
            danger: true,
          });
          if (ok) store.applyOwnChange(await api.deleteForEveryone(message.id));
        } else if (choice === "hide") {
          await api.hideForMe(message.id);
          store.dropMessage(id, message.id);
          store.refreshConversation(id);
        }
      } catch (error) {
        ctx.toast(`That did not work: ${error.message}`);
      }
    }

    function startEditing(message) {
      editing = message;
      editBar.hidden = false;
      sendButton.textContent = "Save";
      textarea.value = message.content ?? "";
      textarea.focus();
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    }

    function stopEditing({ focus = true } = {}) {
      editing = null;
      editBar.hidden = true;
      sendButton.textContent = "Send";
      textarea.value = drafts.get(id) ?? "";
      if (focus) textarea.focus();
    }

    // ---- composing ----------------------------------------------------------------------

    async function onSubmit(event) {
      event.preventDefault();
      const text = textarea.value.trim();
      if (!text) return;
      if (editing) {
        const message = editing;
        if (text === message.content) return stopEditing();
        try {
          store.applyOwnChange(await api.edit(message.id, text));
          stopEditing();
        } catch (error) {
          ctx.toast(`Could not save the edit: ${error.message}`);
        }
        return;
      }
      outbox.send(id, text);
      textarea.value = "";
      drafts.delete(id);
      stickToBottom = true;
      render();
    }

    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      } else if (event.key === "Escape" && editing) {
        event.preventDefault();
        stopEditing();
      } else if (event.key === "ArrowUp" && !editing && textarea.value === "") {
        // Up in an empty composer edits your latest message, as in most chat apps.
        const mine = store
          .messagesOf(thread)
          .findLast(
            (message) => message.sender_id === store.me.id && message.kind === "text" && !message.deleted,
          );
        if (mine) {
          event.preventDefault();
          startEditing(mine);
        }
      }
    });

    textarea.addEventListener("input", () => {
      if (editing) return;
      if (textarea.value) drafts.set(id, textarea.value);
      else drafts.delete(id);
      const now = Date.now();
      if (textarea.value.trim() && now - lastTypingSent > TYPING_EVERY_MS) {
        lastTypingSent = now;
        ctx.live.typing(id);
      }
    });

    const unsubscribe = store.subscribe(render);
    render();
    if (matchMedia("(pointer: fine)").matches) textarea.focus({ preventScroll: true });

    return {
      id,
      render,
      destroy() {
        unsubscribe();
        seen.disconnect();
        older.disconnect();
        document.removeEventListener("visibilitychange", markSeen);
        if (!editing && textarea.value) drafts.set(id, textarea.value);
      },
    };
  }

  return {
    el,
    show,
    get openId() {
      return view?.id ?? null;
    },
  };
}
