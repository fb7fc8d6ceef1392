// Playwright runs okrflow's browser journeys in Debian's headless Chromium (no browser
// download: see DESIGN.md §5). It starts the built okrflow binary on its own port with a fresh
// data directory and waits until /readyz answers before any test runs.
import { defineConfig, devices } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const root = path.resolve(__dirname, "..");
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, "target");
const profile = process.env.OKRFLOW_PROFILE ?? "debug";
const binary = process.env.OKRFLOW_BIN ?? path.join(targetDir, profile, "okrflow");
const port = Number(process.env.OKRFLOW_E2E_PORT ?? 3210);
const baseURL = `http://127.0.0.1:${port}`;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "okrflow-e2e-"));
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// The journeys' pipeline definitions, in place before okrflow starts and reads the folder.
fs.mkdirSync(path.join(dataDir, "pipelines"));
for (const name of fs.readdirSync(path.join(__dirname, "pipelines"))) {
  fs.copyFileSync(path.join(__dirname, "pipelines", name), path.join(dataDir, "pipelines", name));
}
// The first admin's password on the fresh test database; tests log in with it (tests/auth.ts).
export const ADMIN_PASSWORD = "e2e-admin-password";

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: chromium,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"] } }],
  webServer: {
    command: `"${binary}" serve --addr 127.0.0.1:${port} --data-dir "${dataDir}" --site-root "${path.join(root, "target", "site")}" --log info`,
    url: `${baseURL}/readyz`,
    timeout: 60_000,
    reuseExistingServer: false,
    env: { OKRFLOW_ADMIN_PASSWORD: ADMIN_PASSWORD },
    stdout: "ignore",
    stderr: "pipe",
  },
});
