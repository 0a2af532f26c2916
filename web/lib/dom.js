// Building and updating the DOM without ever parsing HTML. Every string given to these
// helpers becomes a text node or an attribute value, so text from the network (message
// content, names, titles) can never turn into markup, whatever it contains.

/**
 * Creates an element. `props`: `class`, `text`, `on<event>` handlers, `dataset`, `hidden`
 * and other DOM properties that are booleans, and any attribute (strings; `null`/`false`
 * leave it out). Children: nodes, strings (as text), arrays, or `null`/`false` (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (typeof value === "boolean") el[name] = value;
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const keyedChildren = new WeakMap();

/**
 * Makes `parent`'s children one node per item, in order, reusing the node of each key and
 * re-rendering it only when `versionOf(item)` changed. Reusing nodes keeps focus, selection
 * and scroll position where they were, and means a screen reader is not told the whole
 * list changed when one line did. `parent` must hold nothing else.
 */
export function keyed(parent, items, keyOf, versionOf, render) {
  const previous = keyedChildren.get(parent) ?? new Map();
  const next = new Map();
  let cursor = parent.firstChild;
  for (const item of items) {
    const key = keyOf(item);
    const version = versionOf(item);
    let entry = previous.get(key);
    if (!entry) {
      entry = { node: render(item), version };
    } else if (entry.version !== version) {
      const node = render(item);
      if (entry.node.contains(document.activeElement)) restoreFocusLater(node);
      if (entry.node.parentNode === parent) {
        if (cursor === entry.node) cursor = node;
        entry.node.replaceWith(node);
      }
      entry = { node, version };
    }
    next.set(key, entry);
    if (entry.node === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(entry.node, cursor);
  }
  for (const [key, entry] of previous) if (!next.has(key)) entry.node.remove();
  keyedChildren.set(parent, next);
}

// A re-rendered line that held the focus gives it to its replacement's first focusable
// element, so keyboard users are not thrown back to the top of the page.
function restoreFocusLater(node) {
  queueMicrotask(() => {
    const target = node.matches?.("a,button,[tabindex]") ? node : node.querySelector?.("a,button,[tabindex]");
    target?.focus({ preventScroll: true });
  });
}

/** Text only screen readers read. */
export function srOnly(text) {
  return h("span", { class: "visually-hidden", text });
}
