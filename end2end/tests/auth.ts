// Logging in: the one helper every Playwright test uses to get a session.
import { expect, Page } from "@playwright/test";
import { waitForHydration } from "./helpers";

export const ADMIN = { username: "admin", password: "e2e-admin-password" };

/** Logs in through the login page (hydrated, as a person would) and waits for the dashboard. */
export async function login(page: Page, user = ADMIN, next = "/") {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await waitForHydration(page);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("user-name")).toHaveText(user.username);
  await waitForHydration(page);
  // The landing page may be a lazy route: wait until its chunk has loaded and it rendered, so a
  // test's next navigation does not cut that fetch off (which the old page logs as an error).
  await expect(page.locator("main .page")).toBeAttached();
}
