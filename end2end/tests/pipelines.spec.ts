// Pipelines in the browser: a run triggered from the form generated from the parameters, its
// command's log followed as lines arrive, the run and the pipeline's grid turning green without
// a reload, and a run cancelled from its page.
import { expect, test } from "@playwright/test";
import { login } from "./auth";
import { watchConsole, waitForHydration } from "./helpers";

test.describe.configure({ timeout: 90_000 });

test("a run triggered from the form streams its log and turns green without a reload", async ({ page }) => {
  const problems = watchConsole(page);
  await login(page, undefined, "/pipelines");
  const row = page.locator('tr[data-pipeline="journey"]');
  await expect(row).toContainText("Says something line by line");
  await row.getByRole("link", { name: "Trigger" }).click();
  await waitForHydration(page);
  await expect(page.getByTestId("trigger-form")).toBeVisible();
  await page.locator('[data-param="greeting"] input').fill("bonjour");
  await page.locator('[data-param="lines"] input').fill("4");
  await page.getByRole("button", { name: "Start the run" }).click();
  await expect(page).toHaveURL(/\/pipelines\/journey\/runs\/\d+$/);
  const run = page.url().split("/").pop();

  // The log follows the running command: the first line, then the last, with no reload.
  const log = page.getByTestId("log-text");
  await expect(log).toContainText("bonjour line 1", { timeout: 15_000 });
  await expect(page.getByTestId("task-log")).toContainText("following");
  await expect(log).toContainText("bonjour line 4", { timeout: 15_000 });
  await expect(page.getByTestId("run-state")).toHaveText("success", { timeout: 15_000 });
  await expect(page.locator('tr[data-task="after"] [data-state]')).toHaveText("success");

  // The pipeline's grid shows the run's tasks green.
  await page.getByRole("link", { name: "← journey" }).click();
  const grid = page.getByTestId("run-grid");
  await expect(grid.locator(`a[href$="/runs/${run}?task=talk"]`)).toHaveAttribute("data-state", "success");
  await expect(grid.locator(`a[href$="/runs/${run}?task=after"]`)).toHaveAttribute("data-state", "success");
  expect(problems).toEqual([]);
});

test("a running run is cancelled from its page and its command stops", async ({ page }) => {
  const problems = watchConsole(page);
  await login(page, undefined, "/pipelines/journey/trigger");
  await page.locator('[data-param="lines"] input').fill("60");
  await page.getByRole("button", { name: "Start the run" }).click();
  await expect(page).toHaveURL(/\/pipelines\/journey\/runs\/\d+$/);
  await expect(page.getByTestId("log-text")).toContainText("hello line 1", { timeout: 15_000 });
  await expect(page.locator('tr[data-task="talk"] [data-state]')).toHaveText("running");
  await page.getByTestId("cancel-run").click();
  await expect(page.getByTestId("run-state")).toHaveText("cancelled", { timeout: 10_000 });
  await expect(page.locator('tr[data-task="talk"] [data-state]')).toHaveText("cancelled");
  await expect(page.locator('tr[data-task="after"] [data-state]')).toHaveText("cancelled");
  // The log ends with the stop: nothing arrives after it.
  await expect(page.getByTestId("task-log")).toContainText("ended", { timeout: 10_000 });
  const text = await page.getByTestId("log-text").textContent();
  await page.waitForTimeout(2_500);
  expect(await page.getByTestId("log-text").textContent()).toBe(text);
  expect(problems).toEqual([]);
});
