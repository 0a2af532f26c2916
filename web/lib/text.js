// Message text as DOM: plain text nodes, with http(s) addresses made into links. Nothing
// here ever parses HTML, so a message reading `<img src=x onerror=...>` shows exactly that.

import { h } from "./dom.js";

// A run of non-space characters starting with http:// or https://.
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends the sentence around a link rather than belonging to it.
const TRAILING = /[.,;:!?]+$/;

/** `text` as a fragment of text nodes and safe links. */
export function richText(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    let candidate = match[0].replace(TRAILING, "");
    // A closing parenthesis belongs to the link only if the link opened one.
    while (candidate.endsWith(")") && count(candidate, "(") < count(candidate, ")")) {
      candidate = candidate.slice(0, -1);
    }
    const href = safeHref(candidate);
    if (!href) continue;
    fragment.append(text.slice(last, match.index));
    fragment.append(h("a", { href, target: "_blank", rel: "noopener noreferrer", text: candidate }));
    last = match.index + candidate.length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

function count(text, char) {
  return text.split(char).length - 1;
}

/** The address as a link target if it is a well-formed http(s) URL, else null. */
export function safeHref(candidate) {
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
