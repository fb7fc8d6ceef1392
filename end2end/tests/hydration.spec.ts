// Every page hydrates in the build the README's run command makes (.ci/run runs this suite
// against the release build): a full load of each page, no console error or hydration warning,
// and an interaction that only works once the wasm has taken the page over.
import { expect, Page, test } from "@playwright/test";
import { login } from "./auth";
import { waitForHydration, watchConsole } from "./helpers";

const PAGES = [
  { path: "/", title: "Overview" },
  { path: "/services", title: "Services" },
  { path: "/pipelines", title: "Pipelines" },
  { path: "/files", title: "Files" },
  { path: "/monitoring", title: "Monitoring" },
  { path: "/experiments", title: "Experiments" },
  { path: "/models", title: "Models" },
  { path: "/logs", title: "Logs" },
  { path: "/admin/users", title: "Users" },
  { path: "/admin/audit", title: "Audit log" },
  { path: "/account", title: "Account" },
  { path: "/no/such/page", title: "Page not found" },
];

/** Collapsing the sidebar is a click handler: it toggles only in a hydrated page, and it
 *  must not reload the page (a marker on window survives). */
async function proveHydrated(page: Page) {
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__okrflowMarker = "hydrated"));
  const layout = page.locator(".layout");
  const toggle = page.getByTestId("collapse-toggle");
  await expect(layout).not.toHaveClass(/collapsed/);
  await toggle.click();
  await expect(layout).toHaveClass(/collapsed/);
  await toggle.click();
  await expect(layout).not.toHaveClass(/collapsed/);
  expect(await page.evaluate(() => (window as any).__okrflowMarker)).toBe("hydrated");
}

test("the login page hydrates: a wrong password is answered in place", async ({ page }) => {
  const problems = watchConsole(page);
  const response = await page.goto("/login");
  expect(response?.status()).toBe(200);
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__okrflowMarker = "hydrated"));
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("login-error")).toHaveText(/wrong username or password/);
  // Answered by the hydrated form's server action, not by a page load.
  expect(await page.evaluate(() => (window as any).__okrflowMarker)).toBe("hydrated");
  // A 401 answer is logged by the browser as a failed resource; nothing else may be.
  expect(problems.filter((p) => !/401/.test(p))).toEqual([]);
});

for (const p of PAGES) {
  test(`${p.path} loads in full and hydrates with no console errors`, async ({ page }) => {
    await login(page);
    const problems = watchConsole(page);
    const response = await page.goto(p.path);
    expect(response?.status()).toBe(p.path === "/no/such/page" ? 404 : 200);
    await expect(page).toHaveTitle(`${p.title} · okrflow`);
    await proveHydrated(page);
    // Client-side navigation works too: the router, not the server, renders the next page.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Logs", exact: true }).click();
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Logs");
    expect(await page.evaluate(() => (window as any).__okrflowMarker)).toBe("hydrated");
    // The 404 page's own status is logged by Chromium as a failed resource; nothing else may be.
    const own404 = /Failed to load resource: the server responded with a status of 404/;
    expect(p.path === "/no/such/page" ? problems.filter((m) => !own404.test(m)) : problems).toEqual([]);
  });
}
