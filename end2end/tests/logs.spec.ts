// The Logs page: entries newest first, new ones appear without a reload, filters work.
import { expect, test } from "@playwright/test";
import { ADMIN, login } from "./auth";
import { waitForHydration, watchConsole } from "./helpers";

test("a new log entry appears without a reload and the filters narrow the list", async ({ page, request }) => {
  const problems = watchConsole(page);
  await login(page, ADMIN, "/logs");
  await waitForHydration(page);
  const table = page.getByTestId("log-table");
  await expect(table).toBeVisible();
  await page.evaluate(() => ((window as any).__okrflowMarker = "still-here"));

  // A request for a missing page is logged by the server at info level.
  const missing = `/missing-${Date.now()}`;
  const basic = Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString("base64");
  expect((await request.get(missing, { headers: { Authorization: `Basic ${basic}` } })).status()).toBe(404);
  const row = table.locator("tbody tr", { hasText: missing });
  await expect(row).toBeVisible({ timeout: 10_000 });
  await expect(row).toContainText("page not found");
  expect(await page.evaluate(() => (window as any).__okrflowMarker)).toBe("still-here");

  // Text search keeps it; a search for something else does not.
  await page.getByTestId("log-search").fill(missing);
  await expect(table.locator("tbody tr")).toHaveCount(1);
  await page.getByTestId("log-search").fill(`${missing}-nothing-like-it`);
  await expect(table.locator("tbody tr")).toHaveCount(0);
  await expect(page.getByText("No entries match.")).toBeVisible();

  // Errors only hides an info entry.
  await page.getByTestId("log-search").fill(missing);
  await expect(table.locator("tbody tr")).toHaveCount(1);
  await page.getByTestId("log-level").selectOption("error");
  await expect(table.locator("tbody tr", { hasText: missing })).toHaveCount(0);
  expect(problems).toEqual([]);
});
