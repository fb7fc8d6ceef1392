// The File Manager in the browser: drop two files, watch both progress bars, see the profile
// appear without a reload, download one and compare its bytes, delete the other; cancel a slow
// upload; a refused type is explained before anything is sent.
import { expect, Page, test } from "@playwright/test";
import * as fs from "node:fs";
import { login } from "./auth";
import { watchConsole, waitForHydration } from "./helpers";

/** A CSV of `rows` OKR-like records (about 60 bytes each). */
function okrCsv(rows: number, tag: string): string {
  const lines = ["objective,key_result,owner,progress"];
  for (let i = 0; i < rows; i++) {
    lines.push(`Objective ${i % 7} ${tag},KR ${i},owner${i % 13}@example.com,${((i * 37) % 100) / 100}`);
  }
  return lines.join("\n") + "\n";
}

async function dropFiles(page: Page, files: { name: string; text: string }[]) {
  const dataTransfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([f.text], f.name));
    return dt;
  }, files);
  await page.getByTestId("dropzone").dispatchEvent("drop", { dataTransfer });
}

function row(page: Page, name: string) {
  return page.getByTestId("file-table").getByTestId("file-row").filter({ has: page.getByRole("button", { name, exact: true }) });
}

test("drop two files, watch them upload, profile, download one and delete the other", async ({ page }) => {
  const problems = watchConsole(page);
  const csv = okrCsv(40_000, "e2e"); // about 2 MB: the progress bar has something to show
  const notes = "Objectives and key results\nreviewed every Friday\n";
  await login(page, undefined, "/files");
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));

  await dropFiles(page, [
    { name: "e2e-okrs.csv", text: csv },
    { name: "e2e-notes.txt", text: notes },
  ]);
  const items = page.getByTestId("upload-item");
  await expect(items).toHaveCount(2);
  for (const i of [0, 1]) {
    const item = items.nth(i);
    await expect(item).toHaveAttribute("data-state", "ok", { timeout: 20_000 });
    await expect(item.getByTestId("upload-bytes")).toContainText("(100 %)");
    const bar = item.getByTestId("upload-progress");
    expect(await bar.getAttribute("value")).toBe(await bar.getAttribute("max"));
  }
  // Bytes sent of the file's size, both in the same unit: "2.0 MB of 2.0 MB (100 %)".
  await expect(items.first().getByTestId("upload-bytes")).toHaveText(/^(\d+\.\d MB) of \1 \(100 %\)$/);

  // Both rows appear and become ready without a reload.
  await expect(row(page, "e2e-okrs.csv").getByTestId("file-status")).toHaveText("ready", { timeout: 20_000 });
  await expect(row(page, "e2e-notes.txt").getByTestId("file-status")).toHaveText("ready");
  await expect(row(page, "e2e-okrs.csv")).toContainText("40000 × 4");
  // One page of files: the pager is there and has nowhere to go.
  await expect(page.getByRole("navigation", { name: "Pages" })).toContainText("Page 1 of 1");
  await expect(page.getByRole("button", { name: "Next", exact: true })).toBeDisabled();
  await expect(page.getByRole("button", { name: "Previous", exact: true })).toBeDisabled();

  // The profile: the true row count, column statistics and the preview.
  await row(page, "e2e-okrs.csv").getByRole("button", { name: "e2e-okrs.csv" }).click();
  const detail = page.getByTestId("file-detail");
  await expect(detail.getByRole("heading", { name: "e2e-okrs.csv" })).toBeVisible();
  await expect(detail.getByTestId("profile-table").getByRole("heading").first()).toHaveText("40000 rows × 4 columns");
  const stats = detail.getByTestId("column-stats");
  await expect(stats.getByRole("row", { name: /^progress f64/ })).toContainText("0.99");
  await expect(detail.getByTestId("preview").locator("tbody tr")).toHaveCount(20);

  // Download: the same bytes as uploaded, and the download is counted.
  const [download] = await Promise.all([page.waitForEvent("download"), detail.getByTestId("download").click()]);
  expect(download.suggestedFilename()).toBe("e2e-okrs.csv");
  const saved = await download.path();
  expect(fs.readFileSync(saved!, "utf8")).toBe(csv);
  await page.getByRole("button", { name: "Reprocess" }).click(); // any action refreshes the detail
  await expect(detail.getByText(/^1, last .* by admin$/)).toBeVisible();

  // Delete the other after confirming.
  await row(page, "e2e-notes.txt").getByRole("button", { name: "e2e-notes.txt" }).click();
  await expect(detail.getByTestId("profile-text")).toContainText("7");
  await detail.getByRole("button", { name: "Delete", exact: true }).click();
  await detail.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Deleted 'e2e-notes.txt'." })).toBeVisible();
  await expect(row(page, "e2e-notes.txt")).toHaveCount(0);
  await expect(row(page, "e2e-okrs.csv")).toHaveCount(1);

  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expect(problems).toEqual([]);
});

test("a slow upload shows its progress and can be cancelled, leaving nothing", async ({ page }) => {
  await login(page, undefined, "/files");
  await waitForHydration(page);
  const before = await page.getByTestId("file-totals").textContent();
  // Slow the connection down so the upload is still running when Cancel is pressed.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 20,
    downloadThroughput: 10_000_000,
    uploadThroughput: 200_000,
  });
  await dropFiles(page, [{ name: "e2e-slow.csv", text: okrCsv(40_000, "slow") }]);
  const item = page.getByTestId("upload-item").filter({ hasText: "e2e-slow.csv" });
  await expect
    .poll(async () => Number(await item.getByTestId("upload-progress").getAttribute("value")), { timeout: 10_000 })
    .toBeGreaterThan(0);
  await item.getByRole("button", { name: "Cancel" }).click();
  await expect(item).toHaveAttribute("data-state", "muted");
  await expect(item).toContainText("Cancelled; nothing was kept");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.reload();
  await waitForHydration(page);
  await expect(page.getByTestId("file-totals")).toHaveText(before!);
  await expect(row(page, "e2e-slow.csv")).toHaveCount(0);
});

test("a refused type is explained and not sent", async ({ page }) => {
  await login(page, undefined, "/files");
  await waitForHydration(page);
  await dropFiles(page, [{ name: "setup.exe", text: "MZ" }]);
  const item = page.getByTestId("upload-item").filter({ hasText: "setup.exe" });
  await expect(item).toHaveAttribute("data-state", "error");
  await expect(item.getByRole("alert")).toContainText(".exe files are not accepted; accepted types: csv, tsv, xlsx");
});
