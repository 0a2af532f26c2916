// Words and times as people read them: names, conversation titles, notices, previews.
// Everything returned is a plain string, for textContent.

const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const fullDay = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * Whether `user` is a deleted account: the server renames one `deleted:<id>` (a name nobody
 * can register, `:` being refused) and answers 404 for its profile (the store marks those).
 */
export function isDeletedUser(user) {
  return Boolean(user?.deleted || user?.username?.startsWith("deleted:"));
}

/** A person's name to show: their full name if they gave one, else their username. */
export function displayName(user) {
  if (!user) return "…";
  if (isDeletedUser(user)) return "Deleted user";
  return user.full_name?.trim() || user.username;
}

/** Name of `userId` as the viewer reads it ("You" for themselves). */
export function nameOf(store, userId, { you = "You" } = {}) {
  if (userId === store.me.id) return you;
  return displayName(store.user(userId));
}

export function conversationTitle(store, summary) {
  if (!summary) return "Conversation";
  if (summary.kind === "group") return summary.title || "Untitled group";
  if (!summary.peer) return "Conversation";
  if (summary.peer.id === store.me.id) return `${displayName(summary.peer)} (you)`;
  return displayName(summary.peer);
}

export function timeOf(iso) {
  return clock.format(new Date(iso));
}

export function fullTime(iso) {
  return full.format(new Date(iso));
}

/** Short time for the conversation list: the clock today, the date before. */
export function shortTime(iso) {
  const at = new Date(iso);
  return sameDay(at, new Date()) ? clock.format(at) : dayMonth.format(at);
}

/** Heading for the messages of one day. */
export function dayLabel(iso) {
  const at = new Date(iso);
  const today = new Date();
  if (sameDay(at, today)) return "Today";
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (sameDay(at, yesterday)) return "Yesterday";
  return fullDay.format(at);
}

export function dayKey(iso) {
  const at = new Date(iso);
  return `${at.getFullYear()}-${at.getMonth()}-${at.getDate()}`;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A group notice as a sentence: "Alice added Bob", "You renamed the group to “Trip”". */
export function noticeText(store, message) {
  const actor = nameOf(store, message.sender_id);
  const subjectId = message.notice?.user_id;
  const subject = subjectId == null ? "someone" : nameOf(store, subjectId, { you: "you" });
  switch (message.kind) {
    case "group.created":
      return `${actor} created the group`;
    case "member.added":
      return `${actor} added ${subject}`;
    case "member.removed":
      return `${actor} removed ${subject}`;
    case "member.left":
      return `${subjectId == null ? actor : nameOf(store, subjectId)} left the group`;
    case "member.role_changed": {
      const role = message.notice?.role;
      if (role === "owner") return `${actor} made ${subject} the owner`;
      if (role === "admin") return `${actor} made ${subject} an admin`;
      return `${actor} made ${subject} a member`;
    }
    case "conversation.renamed":
      return `${actor} renamed the group to “${message.notice?.title ?? ""}”`;
    default:
      return `${actor} changed the group`;
  }
}

/** One line for the conversation list about its latest message. */
export function preview(store, summary) {
  const message = summary.last_message;
  if (!message) {
    if (summary.kind === "group") return "No messages yet";
    return summary.closed ? "Account deleted" : "Say hello";
  }
  if (message.kind !== "text") return noticeText(store, message);
  const who =
    message.sender_id === store.me.id
      ? "You: "
      : summary.kind === "group"
        ? `${nameOf(store, message.sender_id)}: `
        : "";
  if (message.deleted) return `${who}Message deleted`;
  return who + (message.content ?? "").replace(/\s+/g, " ");
}

/** "Alice is typing…", "Alice and Bob are typing…", "3 people are typing…". */
export function typingText(store, userIds) {
  const names = userIds.map((id) => nameOf(store, id));
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

export function listOfNames(names, max = 3) {
  if (names.length <= max) {
    if (names.length <= 1) return names.join("");
    return `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  }
  return `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}
