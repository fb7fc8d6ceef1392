// Live monitoring in the browser: charts that move without a reload, the sampler's pause
// control, and an external check whose dependency goes down turning the pill degraded.
import { expect, Page } from "@playwright/test";
import { test } from "@playwright/test";
import * as net from "node:net";
import { login } from "./auth";
import { watchConsole, waitForHydration } from "./helpers";

async function lastSampleTime(page: Page, chart = "chart-cpu"): Promise<number> {
  return Number(await page.getByTestId(chart).getAttribute("data-last-t"));
}

async function serviceControl(page: Page, service: string, label: string, says: RegExp) {
  await page.goto("/services");
  await waitForHydration(page);
  await expect(page.getByTestId("internal-services")).toHaveAttribute("data-ready", "true");
  const row = page.locator(`tr[data-service="${service}"]`);
  await row.getByRole("button", { name: label }).click();
  await expect(page.getByTestId("service-notice")).toHaveText(says);
}

test("overview cards and the CPU chart move without a reload", async ({ page }) => {
  const problems = watchConsole(page);
  await login(page, undefined, "/");
  await expect(page.getByTestId("card-cpu")).toContainText("%");
  await expect(page.getByTestId("card-memory")).toContainText(/ of /);

  await page.goto("/monitoring");
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await expect(page.getByTestId("live-state")).toHaveText("Live");
  const before = await lastSampleTime(page);
  // The newest point moves on: a new sample was drawn (the count alone stays flat once the
  // five-minute window is full).
  await expect.poll(() => lastSampleTime(page), { timeout: 3_000, intervals: [250] }).toBeGreaterThan(before);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // Every chart is there, with axes labelled in its unit.
  for (const chart of ["chart-cpu", "chart-memory", "chart-disk", "chart-network"]) {
    await expect(page.getByTestId(chart).locator("svg path.line").first()).toBeAttached();
  }
  await expect(page.getByTestId("chart-cpu").locator("text.tick").first()).toHaveText("0 %");

  // Hovering reads values.
  const svg = page.getByTestId("chart-cpu").locator("svg");
  const box = (await svg.boundingBox())!;
  await page.mouse.move(box.x + box.width - 20, box.y + box.height / 2);
  await expect(page.getByTestId("chart-cpu").locator(".chart-readout")).toHaveText(/CPU \(all cores\) \d+\.\d %/);

  // The long ranges read the stored history.
  await page.getByRole("button", { name: "24 hours" }).click();
  await expect(page.getByRole("button", { name: "24 hours" })).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByTestId("chart-cpu")).toBeVisible();
  expect(problems).toEqual([]);
});

/** Clicks Refresh and reads the status pill (its own re-check is every 15 s). */
async function pillAfterRefresh(page: Page): Promise<string> {
  await page.getByRole("button", { name: "Refresh" }).click();
  return (await page.getByTestId("status-pill").textContent()) ?? "";
}

async function liveSubscribers(page: Page): Promise<number> {
  const text = await (await page.request.get("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith("okrflow_live_subscribers "));
  return Number(line?.split(" ")[1] ?? NaN);
}

async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

test("a hidden tab closes its live stream and a visible one opens it again", async ({ page }) => {
  await login(page, undefined, "/");
  await page.goto("/monitoring");
  await waitForHydration(page);
  await expect(page.getByTestId("live-state")).toHaveText("Live");
  await expect.poll(() => liveSubscribers(page)).toBe(1);

  await setHidden(page, true);
  await expect(page.getByTestId("live-state")).toHaveText("Paused while this tab is hidden");
  await expect.poll(() => liveSubscribers(page), { timeout: 10_000 }).toBe(0);
  const frozen = await lastSampleTime(page);
  await page.waitForTimeout(1_500);
  expect(await lastSampleTime(page)).toBe(frozen);

  await setHidden(page, false);
  await expect(page.getByTestId("live-state")).toHaveText("Live");
  await expect.poll(() => lastSampleTime(page), { timeout: 3_000, intervals: [250] }).toBeGreaterThan(frozen);
});

test("pausing the sampler stops the charts; resuming starts them again", async ({ page }) => {
  await login(page, undefined, "/");
  await serviceControl(page, "metrics sampler", "Pause", /Sampler paused/);
  try {
    await expect(page.locator('tr[data-service="metrics sampler"]')).toContainText("paused by admin");

    await page.goto("/monitoring");
    await waitForHydration(page);
    await expect(page.getByTestId("live-state")).toContainText("Live");
    const frozen = await lastSampleTime(page);
    await page.waitForTimeout(2_500);
    expect(await lastSampleTime(page)).toBe(frozen);
    await expect(page.getByTestId("live-state")).toContainText("no new samples");
    await serviceControl(page, "metrics sampler", "Resume", /Sampler resumed/);
  } finally {
    // Whatever happened above, later tests need a running sampler (a 400 here means it runs).
    await page.request.post("/api/run_service_control", {
      form: { service: "metrics sampler", control: "resume" },
      headers: { origin: new URL(page.url()).origin },
    });
  }
  await page.goto("/services");
  await waitForHydration(page);
  await expect(page.locator('tr[data-service="metrics sampler"]').getByRole("button", { name: "Pause" })).toBeVisible();
  // This server is registered in the database and lists itself among the processes.
  const me = page.getByTestId("processes").locator('tr[data-role="serve"]', { hasText: "(this one)" });
  await expect(me).toHaveCount(1);
  await expect(me).toContainText("runs jobs");
  await expect(me).toContainText(/\d+ s ago/);
  await page.goto("/monitoring");
  await waitForHydration(page);
  const resumed = await lastSampleTime(page);
  await expect.poll(() => lastSampleTime(page), { timeout: 3_000, intervals: [250] }).toBeGreaterThan(resumed);
});

test("an external check whose dependency goes down turns the pill degraded and names it", async ({ page }) => {
  const dependency = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => dependency.listen(0, "127.0.0.1", resolve));
  const port = (dependency.address() as net.AddressInfo).port;
  page.on("dialog", (dialog) => dialog.accept());

  await login(page, undefined, "/services");
  await page.goto("/services");
  await waitForHydration(page);
  const form = page.getByTestId("new-check-form");
  await form.getByLabel("Name").fill("e2e-dependency");
  await form.getByLabel("Type").selectOption("tcp");
  await form.getByLabel("Target (host:port or URL)").fill(`127.0.0.1:${port}`);
  await form.getByLabel("Every (s)").fill("1");
  await form.getByLabel("Timeout (ms)").fill("500");
  await form.getByRole("button", { name: "Add check" }).click();
  const row = page.locator('tr[data-service="e2e-dependency"]');
  await expect(row.locator(".badge")).toHaveText("healthy", { timeout: 8_000 });
  await expect(page.getByTestId("status-pill")).not.toContainText("e2e-dependency");

  await new Promise<void>((resolve) => dependency.close(() => resolve()));
  await expect(row.locator(".badge")).toHaveText("degraded", { timeout: 10_000 });
  await expect.poll(() => pillAfterRefresh(page), { timeout: 10_000, intervals: [1_000] }).toContain("Degraded: e2e-dependency");
  await expect(row).toContainText("refused");

  // Removing it (after confirming) brings the pill back.
  await row.getByRole("button", { name: "Remove" }).click();
  await expect(page.getByTestId("service-notice")).toHaveText("Check 'e2e-dependency' removed");
  await expect.poll(() => pillAfterRefresh(page), { timeout: 10_000, intervals: [1_000] }).toContain("All systems healthy");
});

test("bad check definitions are refused with the reason", async ({ page }) => {
  await login(page, undefined, "/services");
  await page.goto("/services");
  await waitForHydration(page);
  const form = page.getByTestId("new-check-form");
  await form.getByLabel("Name").fill("broken");
  await form.getByLabel("Type").selectOption("http");
  await form.getByLabel("Target (host:port or URL)").fill("http//missing-colon");
  await form.getByRole("button", { name: "Add check" }).click();
  await expect(page.getByRole("alert")).toContainText("URL 'http//missing-colon' is not valid");
  await expect(page.locator('tr[data-service="broken"]')).toHaveCount(0);
});
