// Shared helpers for okrflow's journeys: console watching and waiting for hydration.
import { expect, Page } from "@playwright/test";

/** Collects console errors, page errors and hydration warnings for the test to assert on. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (msg) => {
    const text = msg.text();
    if (msg.type() === "error" || /hydrat/i.test(text)) {
      problems.push(`${msg.type()}: ${text}`);
    }
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  return problems;
}

/** Waits until the wasm bundle has hydrated the page (the app marks <body> from an Effect,
 *  which only runs in the browser after hydration). */
export async function waitForHydration(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true", { timeout: 20_000 });
}
