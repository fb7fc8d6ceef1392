// Accounts: logging in and out, wrong passwords, and what a viewer can and cannot do.
import { expect, test } from "@playwright/test";
import { ADMIN, login } from "./auth";
import { waitForHydration, watchConsole } from "./helpers";

test("a person logs in, sees the dashboard, and logs out", async ({ page }) => {
  const problems = watchConsole(page);
  const first = await page.goto("/logs");
  // Anonymous visitors are sent to the login page, which remembers where they wanted to go.
  await expect(page).toHaveURL(/\/login\?next=%2Flogs/);
  expect(first?.status()).toBe(200);
  await login(page, ADMIN, "/logs");
  await expect(page).toHaveURL("/logs");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Logs");
  await expect(page.getByTestId("user-box")).toContainText("admin");
  // The pill follows the login without a reload (the login page's layout asked it anonymously),
  // well before its 15-second re-check.
  await expect(page.getByTestId("status-pill")).toHaveText(/All systems healthy/, { timeout: 5_000 });

  await page.getByTestId("logout").click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F/);
  expect(problems).toEqual([]);
});

test("a wrong password is refused with a clear message", async ({ page }) => {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("login-error")).toHaveText("wrong username or password");
  await expect(page).toHaveURL(/\/login/);
});

test("a viewer sees no admin controls and is refused an admin function called directly", async ({ page, browser }) => {
  const viewer = { username: `vera${Date.now()}`, password: "viewer-password-1" };
  await login(page, ADMIN, "/admin/users");
  const form = page.getByTestId("new-user-form");
  await form.getByLabel("Username").fill(viewer.username);
  await form.getByLabel("Password").fill(viewer.password);
  await form.getByLabel("Role").selectOption("viewer");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByTestId("user-table")).toContainText(viewer.username);

  const context = await browser.newContext();
  const other = await context.newPage();
  await login(other, viewer);
  const nav = other.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Overview" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Users" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Audit log" })).toHaveCount(0);

  // Calling the server function by hand, with the viewer's own session, is refused.
  const origin = new URL(other.url()).origin;
  const reply = await other.request.post("/api/create_user", {
    form: { username: "sneaky", password: "sneaky-password", role: "admin" },
    headers: { Origin: origin },
  });
  expect(reply.status()).toBe(403);
  expect(await reply.text()).toContain("this needs the admin role");
  await context.close();

  // The admin sees both the creation and the refusal in the audit log.
  await page.goto("/admin/audit");
  const audit = page.getByTestId("audit-table");
  await expect(audit).toContainText("user.create");
  await expect(audit).toContainText("access.denied");
});

test("a user creates an API token, sees it once, uses it, and revokes it", async ({ page, request }) => {
  await login(page, ADMIN, "/account");
  const form = page.getByTestId("token-form");
  await form.getByLabel("Name").fill(`e2e-${Date.now()}`);
  await form.getByRole("button", { name: "Create token" }).click();
  const shown = page.getByTestId("new-token").locator("code");
  await expect(shown).toHaveText(/^okf_[0-9a-f]{64}$/);
  const token = (await shown.textContent())!.trim();

  const auth = { headers: { Authorization: `Bearer ${token}` } };
  expect((await request.get("/metrics", auth)).status()).toBe(200);

  const row = page.getByTestId("token-table").locator("tbody tr").first();
  await expect(row).toContainText(token.slice(0, 10));
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");
  expect((await request.get("/metrics", auth)).status()).toBe(401);
});
