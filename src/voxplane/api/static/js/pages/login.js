import { ApiError, login } from "../api.js";
import { field, h, showProblem } from "../dom.js";
import { go } from "../app.js";

export async function render(main) {
  const email = field("Email", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  let tenant = null; // a picker, once the server says the user belongs to several tenants
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h("form", { class: "panel login", novalidate: true, "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to voxplane"),
    h("p", { class: "form-error", role: "alert" }),
    email.row, password.row, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await login(email.input.value.trim(), password.input.value, tenant?.input.value || undefined);
      go("agents");
    } catch (error) {
      const problem = error instanceof ApiError ? error.problem : { detail: error.message };
      const several = problem.errors?.find((e) => /^(body\.)?tenant_id$/.test(e.field));
      if (several?.choices?.length) {
        // the password was right: pick one of the user's tenants by name
        const picker = field("Tenant", { name: "tenant_id", tag: "select",
          options: several.choices.map((c) => [c.value, c.label]) });
        if (tenant) tenant.row.replaceWith(picker.row); else submit.before(picker.row);
        tenant = picker;
      }
      if (error.status === 401) problem.detail = "Wrong email or password.";
      showProblem(form, problem);
      (several?.choices?.length ? tenant.input : password.input).focus();
    } finally {
      submit.disabled = false;
    }
  });
  email.input.addEventListener("input", () => { // another user: their own tenants, if any
    tenant?.row.remove();
    tenant = null;
  });
  main.append(form);
  email.input.focus();
}
