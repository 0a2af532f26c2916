// Entry point: restore the session kept from last time (or show the login screen), then
// start the app. The session ending anywhere (logout here or in another tab, or the server
// revoking it) brings the login screen back.

import { createApi } from "./lib/api.js";
import { h, replace } from "./lib/dom.js";
import { createSession } from "./lib/session.js";
import { startApp } from "./views/app.js";
import { renderLogin } from "./views/login.js";

const root = document.getElementById("app");
const announcer = document.getElementById("announcer");
const session = createSession();
const api = createApi(session);
let app = null;
let starting = null;
let booting = false;

/** Says `text` to screen readers (polite: after what they are reading now). */
function announce(text) {
  const line = document.createElement("p");
  line.textContent = text;
  announcer.append(line);
  // Old lines go, so the region stays small; a new node is announced even if the text repeats.
  while (announcer.childElementCount > 5) announcer.firstElementChild.remove();
}

session.onEnd(() => {
  app?.stop();
  app = null;
  showLogin();
});

function showLogin() {
  renderLogin(root, session, signedIn);
}

async function signedIn(user) {
  if (starting) return starting;
  starting = (async () => {
    try {
      app = await startApp(root, { session, api, user, announce });
    } catch (error) {
      if (session.user) {
        replace(
          root,
          h("p", { class: "boot", role: "alert", text: `Something went wrong: ${error.message}` }),
        );
      }
    } finally {
      starting = null;
    }
  })();
  return starting;
}

async function boot() {
  booting = true;
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const user = await session.restore();
        return user ? signedIn(user) : showLogin();
      } catch {
        // The server is unreachable; the saved session is still good. Keep trying.
        replace(root, h("p", { class: "boot", role: "status", text: "Cannot reach the server. Retrying…" }));
        await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 1000 * 2 ** attempt)));
      }
    }
  } finally {
    booting = false;
  }
}

// Signed in from another tab while this one shows the login screen: follow it.
addEventListener("storage", (event) => {
  const signedInElsewhere = event.key === "missive.refresh_token" && event.newValue;
  if (signedInElsewhere && !app && !starting && !booting && !session.user) boot();
});

boot();
