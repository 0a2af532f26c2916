// The signed-out screen: log in, or create an account. One form whose fields change with
// the mode, so Enter submits and the browser's password manager recognizes both.

import { ApiError } from "../lib/api.js";
import { h, replace } from "../lib/dom.js";

const FIELD_LABELS = {
  login: "Username or e-mail",
  username: "Username",
  email: "E-mail",
  full_name: "Full name (optional)",
  password: "Password",
};

/** Renders into `root`; calls `onSignedIn(user)` once signed in. */
export function renderLogin(root, session, onSignedIn) {
  let mode = "login";
  const error = h("p", { class: "form-error", role: "alert", id: "auth-error" });
  const fields = h("div", { class: "fields" });
  const submit = h("button", { type: "submit", class: "primary wide" });
  const heading = h("h2", { id: "auth-heading" });
  const switcher = h("button", { type: "button", class: "link-button", onclick: toggle });
  const switchText = h("span");
  const inputs = {};

  function input(name, attributes) {
    const id = `auth-${name}`;
    inputs[name] = h("input", { id, name, required: true, "aria-describedby": "auth-error", ...attributes });
    return h("div", { class: "field" }, h("label", { for: id, text: FIELD_LABELS[name] }), inputs[name]);
  }

  function render() {
    for (const key of Object.keys(inputs)) delete inputs[key];
    error.textContent = "";
    if (mode === "login") {
      heading.textContent = "Log in";
      replace(
        fields,
        input("login", { autocomplete: "username", autocapitalize: "none", spellcheck: "false" }),
        input("password", { type: "password", autocomplete: "current-password" }),
      );
      submit.textContent = "Log in";
      switchText.textContent = "New here? ";
      switcher.textContent = "Create an account";
    } else {
      heading.textContent = "Create an account";
      replace(
        fields,
        input("username", {
          autocomplete: "username",
          autocapitalize: "none",
          spellcheck: "false",
          minlength: "3",
          maxlength: "50",
          pattern: "[A-Za-z0-9_.\\-]+",
          title: "3 to 50 letters, digits, _ . or -",
        }),
        input("email", { type: "email", autocomplete: "email" }),
        input("full_name", { autocomplete: "name", required: false }),
        input("password", {
          type: "password",
          autocomplete: "new-password",
          minlength: "8",
          maxlength: "128",
        }),
      );
      submit.textContent = "Create account";
      switchText.textContent = "Already have an account? ";
      switcher.textContent = "Log in";
    }
  }

  function toggle() {
    mode = mode === "login" ? "register" : "login";
    render();
    fields.querySelector("input")?.focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      const value = (name) => inputs[name].value;
      const user =
        mode === "login"
          ? await session.login(value("login").trim(), value("password"))
          : await session.register({
              username: value("username").trim(),
              email: value("email").trim(),
              password: value("password"),
              ...(value("full_name").trim() ? { full_name: value("full_name").trim() } : {}),
            });
      onSignedIn(user);
    } catch (failure) {
      error.textContent = explain(failure);
      submit.disabled = false;
      const field = failure instanceof ApiError && failure.errors[0]?.field;
      (inputs[field] ?? inputs.password ?? inputs.login)?.focus();
    }
  }

  render();
  replace(
    root,
    h(
      "main",
      { class: "auth" },
      h(
        "div",
        { class: "auth-card" },
        h("h1", { class: "brand", text: "missive" }),
        h("form", { "aria-labelledby": "auth-heading", onsubmit: onSubmit }, heading, fields, error, submit),
        h("p", { class: "auth-switch" }, switchText, switcher),
      ),
    ),
  );
  fields.querySelector("input")?.focus();
}

function explain(failure) {
  if (!(failure instanceof ApiError)) return "Cannot reach the server. Check your connection and try again.";
  if (failure.status === 429) return "Too many attempts. Wait a minute and try again.";
  if (failure.errors.length) {
    return failure.errors
      .map((entry) => `${FIELD_LABELS[entry.field] ?? entry.field}: ${entry.message}`)
      .join(". ");
  }
  if (failure.code === "invalid_credentials") return "That username or password is not right.";
  if (failure.code === "username_taken") return "That username is taken.";
  if (failure.code === "email_taken") return "An account with that e-mail already exists.";
  return failure.message;
}
