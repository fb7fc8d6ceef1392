// The shell: overview, hydration, client-side navigation, 404, the phone drawer.
import { expect, test } from "@playwright/test";
import { login } from "./auth";
import { waitForHydration, watchConsole } from "./helpers";

test.beforeEach(async ({ page }) => {
  await login(page);
});

const PAGES = [
  { link: "Overview", path: "/", title: "Overview" },
  { link: "Services", path: "/services", title: "Services" },
  { link: "Pipelines", path: "/pipelines", title: "Pipelines" },
  { link: "Files", path: "/files", title: "Files" },
  { link: "Monitoring", path: "/monitoring", title: "Monitoring" },
  { link: "Experiments", path: "/experiments", title: "Experiments" },
  { link: "Models", path: "/models", title: "Models" },
  { link: "Logs", path: "/logs", title: "Logs" },
];

test("the overview renders measured figures with no console errors", async ({ page }) => {
  const problems = watchConsole(page);
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  await waitForHydration(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Overview");
  await expect(page).toHaveTitle("Overview · okrflow");
  await expect(page.getByRole("complementary", { name: "Sidebar" })).toContainText("OKR ML Pipeline");
  await expect(page.getByTestId("status-pill")).toHaveText(/All systems healthy/);
  await expect(page.getByText("System status")).toBeVisible();
  await expect(page.getByText(/SQLite answered in [\d.]+ ms/)).toBeVisible();
  await waitForHydration(page);
  expect(problems).toEqual([]);
});

test("collapsing the sidebar works only after hydration and survives a reload", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto("/");
  await waitForHydration(page);
  const layout = page.locator(".layout");
  const toggle = page.getByTestId("collapse-toggle");
  await expect(layout).not.toHaveClass(/collapsed/);
  await toggle.click();
  await expect(layout).toHaveClass(/collapsed/);
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  // Labels are hidden visually but links keep their accessible names.
  await expect(page.getByRole("link", { name: "Logs" })).toBeVisible();

  await page.reload();
  await expect(page.locator(".layout")).toHaveClass(/collapsed/);
  await waitForHydration(page);
  await page.getByTestId("collapse-toggle").click();
  await expect(page.locator(".layout")).not.toHaveClass(/collapsed/);
  expect(problems).toEqual([]);
});

test("every sidebar link navigates on the client without a page load", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto("/");
  await waitForHydration(page);
  // A marker on window survives client-side navigation and dies with a full page load.
  await page.evaluate(() => ((window as any).__okrflowMarker = "still-here"));
  const nav = page.getByRole("navigation", { name: "Main" });
  for (const p of [...PAGES.slice(1), PAGES[0]]) {
    await nav.getByRole("link", { name: p.link, exact: true }).click();
    await expect(page).toHaveURL(p.path);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(p.title);
    await expect(nav.getByRole("link", { name: p.link, exact: true })).toHaveAttribute("aria-current", "page");
  }
  expect(await page.evaluate(() => (window as any).__okrflowMarker)).toBe("still-here");
  expect(problems).toEqual([]);
});

test("keyboard users can skip to content and see focus", async ({ page }) => {
  await page.goto("/services");
  await waitForHydration(page);
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(outline).not.toBe("none");
  await page.keyboard.press("Enter");
  await expect(page.locator("main")).toBeFocused();
});

test("an unknown address shows the 404 page with status 404", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
  await expect(page.getByText("There is no page at")).toBeVisible();
  await waitForHydration(page);
  await page.getByRole("link", { name: "Go to the overview" }).click();
  await expect(page).toHaveURL("/");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Overview");
});

test.describe("on a 375 px phone", () => {
  test.use({ viewport: { width: 375, height: 740 } });

  test("the sidebar is a drawer that opens, navigates and closes", async ({ page }) => {
    const problems = watchConsole(page);
    await page.goto("/");
    await waitForHydration(page);
    const sidebar = page.getByRole("complementary", { name: "Sidebar" });
    const menu = page.getByTestId("menu-button");
    await expect(sidebar).toBeHidden();
    await expect(menu).toBeVisible();
    // Nothing overflows sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);

    await menu.click();
    await expect(sidebar).toBeVisible();
    await expect(menu).toHaveAttribute("aria-expanded", "true");
    await sidebar.getByRole("link", { name: "Files" }).click();
    await expect(page).toHaveURL("/files");
    await expect(sidebar).toBeHidden();

    await menu.click();
    await expect(sidebar).toBeVisible();
    await page.keyboard.press("Escape");
    await expect(sidebar).toBeHidden();
    expect(problems).toEqual([]);
  });
});
