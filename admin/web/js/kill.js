// Ending a live session, after the admin confirms it in a dialog (with an optional reason for
// the audit trail). Resolves to the API's answer, or null when the admin cancels.
import { api } from "./api.js";

export function confirmKill(session) {
  const dialog = document.getElementById("kill-dialog");
  const reason = document.getElementById("kill-reason");
  document.getElementById("kill-what").textContent =
    `${session.user} as ${session.login}@${session.target}, from ${session.source}`;
  reason.value = "";
  return new Promise((resolve, reject) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "kill") {
        resolve(null);
        return;
      }
      api.kill(session.id, reason.value.trim()).then(resolve, reject);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// A button that asks to end `session` and reports the outcome in `status`.
export function killButton(session, status, onKilled) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "danger";
  button.id = "kill";
  button.textContent = "End session…";
  button.addEventListener("click", async () => {
    try {
      const answer = await confirmKill(session);
      if (answer) {
        button.disabled = true;
        status.textContent = "The session is being ended.";
        onKilled?.();
      }
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return button;
}

// Enter in the reason field must not submit the dialog: its first button is Cancel, and a kill
// takes a click on "End session".
document.getElementById("kill-reason").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
  }
});
