// Modal dialogs: new direct chat, new group, a group's members, a message's actions and
// edit history, and confirmations. Each is a native <dialog> opened with showModal(), which
// gives focus trapping, Escape to close and an inert page behind, with no code of ours.

import { h, keyed, replace } from "../lib/dom.js";
import { displayName, fullTime } from "../lib/format.js";
import { newKey } from "../lib/outbox.js";

let dialogCount = 0;

/**
 * Opens a modal titled `title`; `build(close)` returns its content. Resolves with the value
 * given to `close` (undefined when dismissed with Escape or the close button).
 */
export function openDialog(title, build, { className = "" } = {}) {
  return new Promise((resolve) => {
    const headingId = `dialog-title-${++dialogCount}`;
    const dialog = h("dialog", { class: `dialog ${className}`, "aria-labelledby": headingId });
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    const opener = document.activeElement;
    dialog.append(
      h(
        "div",
        { class: "dialog-head" },
        h("h2", { id: headingId, text: title }),
        h("button", {
          type: "button",
          class: "icon-button",
          "aria-label": "Close",
          text: "✕",
          onclick: () => close(undefined),
        }),
      ),
      build(close),
    );
    dialog.addEventListener("close", () => {
      dialog.dispatchEvent(new Event("dialog-closed"));
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks yes or no. */
export function confirmDialog({ title, body, confirmLabel, danger = false }) {
  return openDialog(title, (close) =>
    h(
      "div",
      { class: "dialog-body" },
      h("p", { text: body }),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", text: "Cancel", onclick: () => close(false) }),
        h("button", {
          type: "button",
          class: danger ? "danger" : "primary",
          text: confirmLabel,
          autofocus: true,
          onclick: () => close(true),
        }),
      ),
    ),
  ).then(Boolean);
}

/**
 * A username search: a labelled input and a list of matching people as buttons.
 * `onPick(user)` is called with the one chosen; `exclude(user)` hides some.
 */
export function userPicker(ctx, { label, onPick, exclude = () => false }) {
  const id = `picker-${++dialogCount}`;
  const input = h("input", {
    id,
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Start typing a username",
  });
  const results = h("ul", { class: "picker-results", "aria-label": "Matching people" });
  const status = h("p", { class: "picker-status", role: "status" });
  let timer = null;
  let asked = "";

  async function search() {
    const prefix = input.value.trim();
    asked = prefix;
    if (!prefix) {
      replace(results);
      status.textContent = "";
      return;
    }
    try {
      const found = await ctx.api.searchUsers(prefix);
      if (asked !== prefix) return; // a newer search is under way
      found.forEach(ctx.store.learnUser);
      const shown = found.filter((user) => !exclude(user));
      status.textContent = shown.length ? `${shown.length} found` : "Nobody by that name";
      replace(
        results,
        shown.map((user) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "person", onclick: () => onPick(user) },
              h("span", { class: "person-name", text: displayName(user) }),
              h("span", {
                class: "person-username",
                text: user.id === ctx.store.me.id ? `@${user.username} (you)` : `@${user.username}`,
              }),
            ),
          ),
        ),
      );
    } catch (error) {
      status.textContent = `Search failed: ${error.message}`;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      search();
    }
  });
  return {
    el: h("div", { class: "picker" }, h("label", { for: id, text: label }), input, status, results),
    input,
    refresh: search,
  };
}

/** Find someone and open (or create) the direct conversation with them. */
export function newChatDialog(ctx) {
  return openDialog("New conversation", (close) => {
    const error = h("p", { class: "form-error", role: "alert" });
    const picker = userPicker(ctx, {
      label: "Find people by username",
      onPick: async (user) => {
        try {
          const conversation = await ctx.api.openDirect(user.id);
          ctx.store.upsertConversation(conversation);
          close(conversation.id);
        } catch (failure) {
          error.textContent = `Could not open the conversation: ${failure.message}`;
        }
      },
    });
    queueMicrotask(() => picker.input.focus());
    return h("div", { class: "dialog-body" }, picker.el, error);
  }).then((id) => {
    if (id) ctx.navigate(id);
  });
}

/** Name a group, pick its first members, create it. */
export function newGroupDialog(ctx) {
  return openDialog("New group", (close) => {
    const chosen = new Map();
    /** One Idempotency-Key per distinct request made from this dialog. */
    const keys = new Map();
    const titleInput = h("input", {
      id: "group-title",
      required: true,
      maxlength: "100",
      autocomplete: "off",
    });
    const chips = h("ul", { class: "chips", "aria-label": "Members to add" });
    const error = h("p", { class: "form-error", role: "alert" });
    const renderChips = () =>
      replace(
        chips,
        [...chosen.values()].map((user) =>
          h(
            "li",
            { class: "chip" },
            displayName(user),
            h("button", {
              type: "button",
              class: "chip-remove",
              "aria-label": `Remove ${displayName(user)}`,
              text: "✕",
              onclick: () => {
                chosen.delete(user.id);
                renderChips();
                picker.refresh();
              },
            }),
          ),
        ),
      );
    const picker = userPicker(ctx, {
      label: "Add people",
      exclude: (user) => user.id === ctx.store.me.id || chosen.has(user.id),
      onPick: (user) => {
        chosen.set(user.id, user);
        renderChips();
        picker.refresh();
        picker.input.focus();
      },
    });
    const form = h(
      "form",
      {
        class: "dialog-body",
        onsubmit: async (event) => {
          event.preventDefault();
          const title = titleInput.value.trim();
          if (!title) {
            error.textContent = "Give the group a name.";
            titleInput.focus();
            return;
          }
          // The same group asked for again (a retry after a lost answer) reuses its key, so the
          // server makes it once; a changed name or member list is another request.
          const members = [...chosen.keys()].sort((a, b) => a - b);
          const request = JSON.stringify([title, members]);
          if (!keys.has(request)) keys.set(request, newKey());
          try {
            const group = await ctx.api.createGroup(title, members, keys.get(request));
            ctx.store.upsertConversation(group);
            close(group.id);
          } catch (failure) {
            error.textContent = `Could not create the group: ${failure.message}`;
          }
        },
      },
      h("label", { for: "group-title", text: "Group name" }),
      titleInput,
      picker.el,
      chips,
      error,
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "submit", class: "primary", text: "Create group" }),
      ),
    );
    queueMicrotask(() => titleInput.focus());
    return form;
  }).then((id) => {
    if (id) ctx.navigate(id);
  });
}

const ROLE_LABEL = { owner: "Owner", admin: "Admin", member: "Member" };

/** A group's members: roles, read positions; add, remove, rename and leave as allowed. */
export function membersDialog(ctx, conversationId) {
  const { store, api } = ctx;
  let unsubscribe = () => {};
  return openDialog(
    "Group members",
    (close) => {
      const body = h("div", { class: "dialog-body" });
      const error = h("p", { class: "form-error", role: "alert" });
      const list = h("ul", { class: "member-list", "aria-label": "Members" });
      const count = h("p", { class: "muted" });
      const rename = h("input", { id: "group-rename", maxlength: "100", autocomplete: "off" });
      const renameForm = h(
        "form",
        {
          class: "inline-form",
          onsubmit: async (event) => {
            event.preventDefault();
            const title = rename.value.trim();
            if (!title) return;
            try {
              store.upsertConversation(await api.renameGroup(conversationId, title));
              error.textContent = "";
            } catch (failure) {
              error.textContent = `Could not rename: ${failure.message}`;
            }
          },
        },
        h("label", { for: "group-rename", text: "Group name" }),
        h("div", { class: "inline-row" }, rename, h("button", { type: "submit", text: "Rename" })),
      );
      const picker = userPicker(ctx, {
        label: "Add someone",
        exclude: (user) => Boolean(store.thread(conversationId)?.members.has(user.id)),
        onPick: async (user) => {
          try {
            store.upsertConversation(await api.addMember(conversationId, user.id));
            store.reloadMembers(conversationId);
            picker.input.value = "";
            picker.refresh();
            error.textContent = "";
          } catch (failure) {
            error.textContent = `Could not add ${displayName(user)}: ${failure.message}`;
          }
        },
      });
      const leave = h("button", {
        type: "button",
        class: "danger",
        text: "Leave group",
        onclick: async () => {
          const ok = await confirmDialog({
            title: "Leave this group?",
            body: "You will no longer see its messages.",
            confirmLabel: "Leave",
            danger: true,
          });
          if (!ok) return;
          try {
            await api.removeMember(conversationId, "me");
            store.forgetConversation(conversationId);
            close("left");
          } catch (failure) {
            error.textContent = `Could not leave: ${failure.message}`;
          }
        },
      });

      function render() {
        const summary = store.conversation(conversationId);
        const thread = store.thread(conversationId);
        if (!summary || !thread) return close();
        const role = summary.role;
        const manager = role === "owner" || role === "admin";
        if (document.activeElement !== rename) rename.value = summary.title ?? "";
        renameForm.hidden = !manager;
        picker.el.hidden = !manager;
        count.textContent = `${thread.members.size} members`;
        const members = [...thread.members.entries()].map(([userId, member]) => {
          const user = store.user(userId);
          const name = userId === store.me.id ? `${displayName(user)} (you)` : displayName(user);
          // Owners remove anyone but themselves; admins remove members only.
          const removable =
            userId !== store.me.id &&
            member.role !== "owner" &&
            (role === "owner" || (role === "admin" && member.role === "member"));
          // Only the owner changes roles (handing the group over is left to the API).
          const promotable = role === "owner" && userId !== store.me.id && member.role !== "owner";
          return { userId, user, name, role: member.role, removable, promotable };
        });
        // Keyed, so a re-render (any live event) keeps the focus on the button it was on.
        keyed(
          list,
          members,
          (member) => member.userId,
          (member) => `${member.name}|${member.role}|${member.removable}|${member.promotable}`,
          (member) =>
            h(
              "li",
              { class: "member" },
              h("span", { class: "member-name", text: member.name }),
              h("span", { class: "member-role", text: ROLE_LABEL[member.role] ?? member.role }),
              member.promotable &&
                h("button", {
                  type: "button",
                  class: "small",
                  text: member.role === "admin" ? "Make member" : "Make admin",
                  "aria-label": `${member.role === "admin" ? "Make member" : "Make admin"}: ${displayName(member.user)}`,
                  onclick: async () => {
                    try {
                      await api.setRole(
                        conversationId,
                        member.userId,
                        member.role === "admin" ? "member" : "admin",
                      );
                      store.reloadMembers(conversationId);
                      error.textContent = "";
                    } catch (failure) {
                      error.textContent = `Could not change the role: ${failure.message}`;
                    }
                  },
                }),
              member.removable &&
                h("button", {
                  type: "button",
                  class: "small danger-text",
                  text: "Remove",
                  "aria-label": `Remove ${displayName(member.user)} from the group`,
                  onclick: async () => {
                    try {
                      await api.removeMember(conversationId, member.userId);
                      store.refreshConversation(conversationId);
                      store.reloadMembers(conversationId);
                      error.textContent = "";
                    } catch (failure) {
                      error.textContent = `Could not remove ${displayName(member.user)}: ${failure.message}`;
                    }
                  },
                }),
            ),
        );
      }

      unsubscribe = store.subscribe(render);
      store.reloadMembers(conversationId);
      render();
      body.append(renameForm, count, list, picker.el, error, h("div", { class: "dialog-actions" }, leave));
      return body;
    },
    { className: "members-dialog" },
  ).then((result) => {
    unsubscribe();
    if (result === "left") ctx.navigate(null);
  });
}

/** Every version of an edited message, oldest first. */
export function historyDialog(ctx, message) {
  return openDialog("Edit history", () => {
    const list = h("ol", { class: "history-list" }, h("li", { text: "Loading…" }));
    ctx.api.history(message.id).then(
      (history) => {
        if (history.deleted) return replace(list, h("li", { text: "This message was deleted." }));
        replace(
          list,
          history.versions.map((version, index) =>
            h(
              "li",
              { class: "history-version" },
              h("p", { class: "history-content", text: version.content }),
              h("p", {
                class: "muted",
                text: `${index === 0 ? "Sent" : "Edited"} ${fullTime(version.from)}${version.until ? "" : " (current)"}`,
              }),
            ),
          ),
        );
      },
      (error) => replace(list, h("li", { text: `Could not load the history: ${error.message}` })),
    );
    return h("div", { class: "dialog-body" }, list);
  });
}

/**
 * What can be done with one message. Resolves to "edit", "history", "delete", "hide" or
 * undefined. `canEdit: false` leaves out "Edit" (a closed conversation takes nothing new).
 */
export function messageActionsDialog(ctx, message, { canEdit = true } = {}) {
  const mine = message.sender_id === ctx.store.me.id;
  const text = message.kind === "text" && !message.deleted;
  return openDialog("Message", (close) => {
    const action = (label, value, className = "") =>
      h("button", {
        type: "button",
        class: `menu-item ${className}`,
        text: label,
        onclick: () => close(value),
      });
    return h(
      "div",
      { class: "dialog-body menu" },
      text && message.content && h("blockquote", { class: "quoted", text: message.content }),
      mine && text && canEdit && action("Edit", "edit"),
      text && message.edited_at && action("Edit history", "history"),
      mine && text && action("Delete for everyone", "delete", "danger-text"),
      action("Hide for me", "hide"),
    );
  });
}
