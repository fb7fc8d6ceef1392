// Experiment tracking in the browser, with the real MLflow client (the venv .ci/mlflow-client
// makes) logging to the okrflow under test: a run logged while the runs table is open appears
// without a reload; a running run's chart grows as points arrive; two runs compared; an alias
// set on the Models page is what `models:/name@alias` loads.
import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ADMIN, login } from "./auth";
import { watchConsole, waitForHydration } from "./helpers";

const venv = process.env.OKRFLOW_MLFLOW_VENV ?? path.join(os.homedir(), ".cache", "okrflow", "mlflow");
const python = path.join(venv, "bin", "python");
const script = path.join(__dirname, "mlflow_journey.py");

/** Runs a command of mlflow_journey.py with the real client against this okrflow. */
function mlflow(baseURL: string, ...args: string[]): any {
  if (!fs.existsSync(python)) {
    throw new Error(`no MLflow client at ${python}: run .ci/mlflow-client once to make its venv`);
  }
  const out = execFileSync(python, [script, ...args], {
    env: {
      ...process.env,
      MLFLOW_TRACKING_URI: baseURL,
      MLFLOW_TRACKING_USERNAME: ADMIN.username,
      MLFLOW_TRACKING_PASSWORD: ADMIN.password,
    },
    encoding: "utf8",
    timeout: 90_000,
  });
  return JSON.parse(out.trim().split("\n").pop()!);
}

test.describe.configure({ timeout: 180_000 });

test("a run logged by the client appears without a reload; its chart, artifacts and a comparison", async ({ page, baseURL }) => {
  const problems = watchConsole(page);
  const experiment = `e2e-tracking-${Date.now()}`;
  const first = mlflow(baseURL!, "log-run", experiment, "baseline", "50", "1");
  await login(page, undefined, `/experiments/${first.experiment_id}`);
  await waitForHydration(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));
  const table = page.getByTestId("run-table");
  await expect(table.locator(`tr[data-run="${first.run_id}"]`)).toBeVisible();

  // Logged while the page is open: it must appear by itself.
  const second = mlflow(baseURL!, "log-run", experiment, "deeper", "80", "2");
  await expect(table.locator(`tr[data-run="${second.run_id}"]`)).toBeVisible({ timeout: 20_000 });
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // Sort by the auc column (a default column: the experiment's first metrics).
  await table.getByRole("button", { name: "auc", exact: true }).click();
  await expect(table.locator("tbody tr").first()).toHaveAttribute("data-run", second.run_id);
  // The filter grammar of the API, and its error naming the position.
  await page.getByTestId("run-filter").fill("metrics.auc < 0.65");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(table.locator("tbody tr")).toHaveCount(1);
  await expect(table.locator(`tr[data-run="${first.run_id}"]`)).toBeVisible();
  await page.getByTestId("run-filter").fill("metrics.auc <> 1");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByRole("alert")).toContainText(/position|character/i);
  await page.getByTestId("run-filter").fill("");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(table.locator("tbody tr")).toHaveCount(2);

  // Compare the two.
  await page.getByLabel("Compare baseline").check();
  await page.getByLabel("Compare deeper").check();
  await page.getByTestId("compare-runs").click();
  await expect(page).toHaveURL(/\/compare\?runs=/);
  const compare = page.getByTestId("compare-table");
  await expect(compare).toContainText("depth");
  await expect(compare).not.toContainText("seed"); // equal in both: hidden
  await page.getByTestId("only-differences").uncheck();
  await expect(compare).toContainText("seed");
  await expect(page.getByTestId("compare-chart-loss")).toHaveAttribute("data-points", "130");
  await expect(page.getByTestId("parallel-chart")).toHaveAttribute("data-lines", "2");

  // The run page: its chart has the points, its artifacts preview.
  await compare.getByRole("link", { name: "deeper" }).click();
  await expect(page.getByTestId("run-name")).toHaveText("deeper");
  await expect(page.getByTestId("chart-loss")).toHaveAttribute("data-points", "80");
  await expect(page.getByTestId("run-params")).toContainText("forest");
  await page.getByTestId("artifacts").getByText("report/").click();
  await page.locator('button[data-artifact="report/predictions.csv"]').click();
  const preview = page.getByTestId("artifact-preview");
  await expect(preview.locator("table")).toContainText("KR-2");
  await page.locator('button[data-artifact="report/summary.json"]').click();
  await expect(preview.locator("pre")).toContainText('"rows": 2');

  // The note is the mlflow.note.content tag: the client reads back what the page wrote.
  await page.getByTestId("run-note").getByRole("button", { name: "Edit" }).click();
  await page.getByTestId("note-input").fill("Deeper trees overfit after step 60.");
  await page.getByRole("button", { name: "Save note" }).click();
  await expect(page.getByTestId("note-text")).toHaveText("Deeper trees overfit after step 60.");
  // The refused filter's 400 is the one the browser reports; nothing else went wrong.
  const refused = problems.filter((p) => /status of 400/.test(p));
  expect(refused.length).toBeLessThanOrEqual(1);
  expect(problems.filter((p) => !refused.includes(p))).toEqual([]);
});

test("a running run's chart grows as the client logs points", async ({ page, baseURL }) => {
  const problems = watchConsole(page);
  const run = mlflow(baseURL!, "start-run", `e2e-live-${Date.now()}`, "live");
  await login(page, undefined, `/runs/${run.run_id}`);
  await waitForHydration(page);
  const chart = page.getByTestId("chart-loss");
  await expect(chart).toHaveAttribute("data-points", "1");
  mlflow(baseURL!, "log-points", run.run_id, "1", "40");
  await expect(chart).toHaveAttribute("data-points", "40", { timeout: 20_000 });
  await expect(page.getByTestId("run-status")).toHaveText("RUNNING");
  expect(problems).toEqual([]);
});

test("an alias set on the Models page is what models:/name@alias loads", async ({ page, baseURL }) => {
  const problems = watchConsole(page);
  const model = `e2e-model-${Date.now()}`;
  expect(mlflow(baseURL!, "register", model, "1.5").version).toBe("1");
  expect(mlflow(baseURL!, "register", model, "7.25").version).toBe("2");
  await login(page, undefined, "/models");
  await waitForHydration(page);
  await page.getByTestId("model-table").getByRole("link", { name: model }).click();
  await expect(page.getByTestId("model-name")).toHaveText(model);
  await expect(page.getByTestId("version-table").locator("tbody tr")).toHaveCount(2);

  const setAlias = async (version: string) => {
    await page.getByTestId("alias-name").fill("champion");
    await page.getByTestId("alias-version").selectOption(version);
    await page.getByRole("button", { name: "Set alias" }).click();
    await expect(page.getByTestId("model-aliases").locator('li[data-alias="champion"]')).toContainText(`version ${version}`);
  };
  await setAlias("1");
  expect(mlflow(baseURL!, "predict", `models:/${model}@champion`).prediction).toBe(1.5);
  await setAlias("2");
  expect(mlflow(baseURL!, "predict", `models:/${model}@champion`).prediction).toBe(7.25);
  // The source run of a version links to its run page.
  await page.getByTestId("version-table").locator('tr[data-version="2"] a').click();
  await expect(page.getByTestId("run-models")).toContainText(`${model} v2`);
  expect(problems).toEqual([]);
});
