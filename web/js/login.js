// The login bar shared by both pages: the OAuth password flow through the server, with the
// org's client id from /dashboard/config.json, and the token kept in localStorage so a second
// tab of the same browser is logged in too.

import { dashboardConfig, login, revoke, saveLogin, savedLogin } from "./api.js";
// A 401 from the REST API or the streaming endpoint fires "bayou:logged-out" (see api.js).
import { $, show } from "./dom.js";

/** Wires the login form; calls onLogin(login) now if already logged in, and after each login. */
export async function setUpLogin(onLogin, onLogout) {
  // Listeners first, so that the form is never submitted natively (with the password in the
  // URL) while the configuration is being fetched; the button is enabled once it is here.
  const form = $("login-form");
  const status = $("login-status");
  const render = () => {
    const current = savedLogin();
    form.hidden = !!current;
    $("logout").hidden = !current;
    status.textContent = current ? `Logged in as ${current.username}` : "Not logged in";
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("login-error");
    error.textContent = "";
    error.classList.remove("error");
    try {
      const result = await login(
        $("login-client-id").value.trim(),
        $("login-username").value.trim(),
        $("login-password").value,
      );
      saveLogin(result);
      render();
      onLogin(result);
    } catch (e) {
      show(error, e.message, true);
    }
  });
  $("logout").addEventListener("click", async () => {
    const current = savedLogin();
    saveLogin(null);
    render();
    if (current) await revoke(current.accessToken).catch(() => {});
    onLogout?.();
  });
  window.addEventListener("bayou:logged-out", (event) => {
    render();
    show($("login-error"), `Logged out: ${event.detail}. Log in again.`, true);
    onLogout?.();
  });
  render();
  let config = {};
  try {
    config = await dashboardConfig();
    $("login-client-id").value = config.clientId || "";
  } catch (e) {
    show($("login-error"), `Cannot read /dashboard/config.json (${e.message}): type the client id.`, true);
  }
  $("login-submit").disabled = false;
  const current = savedLogin();
  if (current) onLogin(current);
  return config;
}
