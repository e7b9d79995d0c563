"""The JupyterLab extension in a real browser against a real `jupyter lab` and the real Slurm + MLflow stack:
toolbar button -> dialog filled from the project -> submit -> MLTF Jobs panel -> COMPLETED -> log; cancel a
long job from the panel; bad values show field errors and submit nothing; palette, Run menu, file browser.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slurm, pytest.mark.timeout(600)]

JOB_TIMEOUT_MS = 240_000


def _api(page: Page, lab: dict[str, Any], path: str) -> Any:
    answer = page.request.get(f"{lab['base']}/mltf/api/{path}", headers={"Authorization": f"token {lab['token']}"})
    assert answer.ok, answer.text()
    return answer.json()


def _open_lab(page: Page, lab: dict[str, Any], path: str = "") -> None:
    where = f"lab/tree/{path}" if path else "lab"
    page.goto(f"{lab['base']}/{where}?reset&token={lab['token']}")
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=60_000)


def _open_notebook(page: Page, lab: dict[str, Any], name: str) -> None:
    """Open a notebook and wait until its kernel is really connected (the toolbar says 'idle' too early)."""
    _open_lab(page, lab, name)
    deadline = time.time() + 90
    while time.time() < deadline:
        sessions = page.request.get(f"{lab['base']}/api/sessions?token={lab['token']}").json()
        kernels = [s["kernel"] for s in sessions if s["path"] == name]
        if any(k["connections"] > 0 and k["execution_state"] == "idle" for k in kernels):
            break
        time.sleep(0.25)
    else:
        raise AssertionError(f"the kernel of {name} never connected")
    page.wait_for_function("document.activeElement && document.activeElement.closest('.jp-Notebook')")


def _field(page: Page, name: str) -> Any:
    return page.locator(f".mltf-submit-form .mltf-field[data-field='{name}']")


def _input(page: Page, name: str) -> Any:
    return page.locator(f".mltf-submit-form [name='{name}']")


def _row(page: Page, job_id: str) -> Any:
    return page.locator(f"#mltf-jobs-panel .mltf-job-row[data-job-id='{job_id}']")


def _shot(page: Page, artifacts: Path, name: str, locator: Any = None) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"))
    if locator is not None:
        locator.screenshot(path=str(artifacts / f"{name}-element.png"))


def test_submit_from_toolbar_completes_and_shows_log(lab: dict[str, Any], page: Page, artifacts: Path) -> None:
    _open_notebook(page, lab, "demo/explore.ipynb")
    button = page.locator(".jp-NotebookPanel-toolbar .mltf-submit-button")
    expect(button).to_be_visible(timeout=60_000)
    with page.expect_response(lambda r: "/mltf/api/preview" in r.url) as preview_answer:
        button.click()
    assert preview_answer.value.status == 200, preview_answer.value.text()
    preview = preview_answer.value.json()
    assert preview["project"]["name"] == "browser-demo"

    # the dialog is filled from the project: name, entry point, typed parameters with defaults, files
    form = page.locator(".mltf-submit-dialog .mltf-submit-form")
    expect(form.locator(".mltf-project-name")).to_have_text("browser-demo")
    expect(_input(page, "entry_point")).to_have_value("main")
    expect(_input(page, "param:lr")).to_have_value("0.01")
    expect(_input(page, "param:epochs")).to_have_value("2")
    expect(_field(page, "param:lr").locator(".mltf-hint")).to_contain_text("float")
    expect(form.locator(".mltf-command")).to_contain_text("python train.py --lr {lr} --epochs {epochs}")
    count = preview["files"]["count"]
    assert count >= 3
    expect(form.locator(".mltf-files-summary")).to_contain_text(f"{count} files")
    expect(_input(page, "partition")).to_have_value("gpu")
    expect(_field(page, "time").locator(".mltf-hint")).to_contain_text("max 08:00:00")
    expect(_field(page, "gpus").locator(".mltf-hint")).to_contain_text("0 to 2 per node")
    form.locator(".mltf-file-list summary").click()
    expect(form.locator(".mltf-file", has_text="train.py")).to_be_visible()

    # change a parameter and the GPU count, then submit
    _input(page, "param:lr").fill("0.05")
    _input(page, "param:epochs").fill("3")
    _input(page, "gpus").fill("1")
    expect(_input(page, "gpu_type").locator("option[value='fake_a100']")).to_have_count(1)
    _shot(page, artifacts, "submit-dialog", page.locator(".mltf-submit-dialog .jp-Dialog-content"))
    with page.expect_response(lambda r: "/mltf/api/jobs" in r.url and r.request.method == "POST") as submitted:
        page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-accept").click()
    assert submitted.value.status == 201, submitted.value.text()
    job = submitted.value.json()
    assert job["params"]["lr"] in ("0.05", 0.05)
    assert job["params"]["epochs"] in ("3", 3)
    assert job["resources"]["gpus"] == 1
    expect(page.locator(".mltf-submit-dialog")).to_have_count(0)

    # the side panel opens with the job, which goes to COMPLETED
    row = _row(page, job["id"])
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".mltf-job-gpus")).to_contain_text("1×")
    expect(row.locator(".mltf-job-state")).to_have_text("COMPLETED", timeout=JOB_TIMEOUT_MS)
    expect(row.locator(".mltf-job-elapsed")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    expect(row.locator(".mltf-job-cancel")).to_be_hidden()
    final = _api(page, lab, f"jobs/{job['id']}")
    if final.get("mlflow_url"):
        expect(row.locator("a.mltf-job-mlflow")).to_have_attribute("href", final["mlflow_url"])
    _shot(page, artifacts, "jobs-panel-completed", page.locator("#mltf-jobs-panel"))

    # the log shows the job's output
    row.locator(".mltf-job-log").click()
    log = page.locator(f".mltf-log-view[data-job-id='{job['id']}'] .mltf-log-text")
    expect(log).to_contain_text("epoch 2 lr=0.05", timeout=60_000)
    expect(log).to_contain_text("training done")
    _shot(page, artifacts, "job-log")

    # the last choices are remembered for this directory
    button.click()
    expect(_input(page, "param:lr")).to_have_value("0.05", timeout=30_000)
    expect(_input(page, "gpus")).to_have_value("1")
    page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-reject").click()
    expect(page.locator(".mltf-submit-dialog")).to_have_count(0)

    # "Re-submit with changes" opens the dialog prefilled from the job
    row.locator(".mltf-job-resubmit").click()
    expect(_input(page, "param:epochs")).to_have_value("3", timeout=30_000)
    expect(_input(page, "gpus")).to_have_value("1")
    page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-reject").click()


def test_bad_values_show_field_errors_and_submit_nothing(lab: dict[str, Any], page: Page, artifacts: Path) -> None:
    before = {j["id"] for j in _api(page, lab, "jobs")["jobs"]}
    _open_notebook(page, lab, "demo/explore.ipynb")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and "/mltf/api/jobs" in r.url else None)

    # open the dialog from the Run menu this time
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Submit to MLTF$")).click()
    expect(_input(page, "param:lr")).to_be_visible(timeout=30_000)
    accept = page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-accept")

    # a time beyond the gpu partition's 08:00:00: the server's check (POST check, which creates nothing)
    # answers with the field, the dialog marks it and Submit stays off; no click needed
    _input(page, "time").fill("99:00:00")
    error = _field(page, "time").locator(".mltf-field-error")
    expect(error).to_contain_text("08:00:00")
    expect(_field(page, "time")).to_have_class(re.compile("mltf-mod-invalid"))
    expect(accept).to_be_disabled()

    # a float parameter that is not a number (a type check in the browser)
    _input(page, "time").fill("00:10:00")
    _input(page, "param:lr").fill("fast")
    expect(_field(page, "param:lr").locator(".mltf-field-error")).to_contain_text("must be float")
    expect(_field(page, "time").locator(".mltf-field-error")).to_be_hidden()
    expect(accept).to_be_disabled()

    # a GPU count that is not a whole number
    _input(page, "param:lr").fill("0.1")
    _input(page, "gpus").fill("1.5")
    expect(_field(page, "gpus").locator(".mltf-field-error")).to_contain_text("whole number")

    # more GPUs than a node has; Enter does not submit while Submit is off
    _input(page, "gpus").fill("5")
    expect(_field(page, "gpus").locator(".mltf-field-error")).to_contain_text("2 GPUs per node")
    expect(accept).to_be_disabled()
    page.keyboard.press("Enter")
    _shot(page, artifacts, "submit-dialog-errors", page.locator(".mltf-submit-dialog .jp-Dialog-content"))

    # a check that passes turns Submit on again
    _input(page, "gpus").fill("1")
    expect(accept).to_be_enabled()
    expect(_field(page, "gpus").locator(".mltf-field-error")).to_be_hidden()

    # the dialog stays open, and nothing reached the server
    expect(page.locator(".mltf-submit-dialog")).to_be_visible()
    page.wait_for_timeout(500)
    assert posts == []
    page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-reject").click()
    after = {j["id"] for j in _api(page, lab, "jobs")["jobs"]}
    assert after == before


def test_server_side_error_lands_on_its_field(lab: dict[str, Any], page: Page) -> None:
    """A 4xx from POST jobs (here: a GPU type the partition does not have) is shown next to the field."""
    _open_notebook(page, lab, "demo/explore.ipynb")
    page.locator(".jp-NotebookPanel-toolbar .mltf-submit-button").click()
    expect(_input(page, "gpus")).to_be_visible(timeout=30_000)
    _input(page, "gpus").fill("1")
    # a GPU type that is not offered: add it to the select the way an old remembered choice would be
    page.evaluate(
        """() => { const s = document.querySelector(".mltf-submit-form select[name='gpu_type']");
                   const o = document.createElement('option'); o.value = o.textContent = 'h100'; s.append(o);
                   s.value = 'h100'; }"""
    )
    with page.expect_response(lambda r: "/mltf/api/jobs" in r.url and r.request.method == "POST") as answer:
        page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-accept").click()
    assert 400 <= answer.value.status < 500, answer.value.text()
    body = answer.value.json()
    assert "gpu_type" in body["message"]
    expect(_field(page, "gpu_type").locator(".mltf-field-error")).to_have_text(body["message"])
    expect(page.locator(".mltf-submit-dialog")).to_be_visible()
    page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-reject").click()


def test_cancel_long_job_from_file_browser_submission(lab: dict[str, Any], page: Page, artifacts: Path) -> None:
    _open_lab(page, lab)
    # "Submit directory to MLTF" in the file browser's context menu of a folder without an MLproject
    folder = page.locator(".jp-DirListing-item[data-isdir='true']", has_text="sleeper")
    expect(folder).to_be_visible(timeout=30_000)
    folder.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Submit directory to MLTF$")).click()
    form = page.locator(".mltf-submit-dialog .mltf-submit-form")
    expect(form.locator(".mltf-badge-generated")).to_be_visible(timeout=30_000)
    expect(form.locator(".mltf-mlproject-text")).to_contain_text("entry_points")
    expect(_input(page, "param:seconds")).to_have_value("600")
    _input(page, "gpus").fill("0")
    _input(page, "time").fill("00:15:00")
    _shot(page, artifacts, "submit-dialog-generated", page.locator(".mltf-submit-dialog .jp-Dialog-content"))
    with page.expect_response(lambda r: "/mltf/api/jobs" in r.url and r.request.method == "POST") as submitted:
        page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-accept").click()
    assert submitted.value.status == 201, submitted.value.text()
    job = submitted.value.json()

    row = _row(page, job["id"])
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator(".mltf-job-state")).to_have_text(re.compile("PENDING|CONFIGURING|RUNNING"))
    expect(row.locator(".mltf-job-state")).to_have_text("RUNNING", timeout=120_000)
    # the log tails while the job runs
    row.locator(".mltf-job-log").click()
    expect(page.locator(f".mltf-log-view[data-job-id='{job['id']}'] .mltf-log-text")).to_contain_text(
        "sleeping 600s", timeout=60_000
    )
    row.locator(".mltf-job-cancel").click()
    confirm = page.locator(".jp-Dialog", has_text="Cancel MLTF job?")
    confirm.locator(".jp-Dialog-button.jp-mod-warn").click()
    expect(row.locator(".mltf-job-state")).to_have_text("CANCELLED", timeout=90_000)
    expect(row.locator(".mltf-job-cancel")).to_be_hidden()
    _shot(page, artifacts, "jobs-panel-cancelled", page.locator("#mltf-jobs-panel"))
    assert _api(page, lab, f"jobs/{job['id']}")["state"] == "CANCELLED"


def test_palette_and_settings(lab: dict[str, Any], page: Page) -> None:
    _open_notebook(page, lab, "demo/explore.ipynb")
    item = page.locator(".lm-CommandPalette-item", has_text="Submit to MLTF")
    for _ in range(3):  # a freshly opened notebook may take focus back and close the palette
        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Control+Shift+c")
        try:
            page.locator(".lm-CommandPalette-input").fill("MLTF", timeout=3000)
            expect(item).to_be_visible(timeout=3000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
        except Exception:  # playwright TimeoutError
            page.keyboard.press("Escape")
    expect(item).to_be_visible()
    page.keyboard.press("Escape")
    settings = page.request.get(
        f"{lab['base']}/lab/api/settings/jupyter-mltf:plugin?token={lab['token']}"
    ).json()
    props = settings["schema"]["properties"]
    assert {"pollInterval", "notifications"} <= set(props)


def test_polling_pauses_while_the_panel_is_hidden(lab: dict[str, Any], page: Page) -> None:
    """With background watching off, GET jobs is asked only while the MLTF Jobs panel is shown."""
    url = f"{lab['base']}/lab/api/settings/jupyter-mltf:plugin"
    headers = {"Authorization": f"token {lab['token']}"}
    answer = page.request.put(url, headers=headers, data={"raw": '{"backgroundPolling": false}'})
    assert answer.ok, answer.text()
    try:
        gets: list[float] = []
        page.on(
            "request",
            lambda r: gets.append(time.time()) if r.method == "GET" and "/mltf/api/jobs?" in r.url else None,
        )
        _open_lab(page, lab)
        tab = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab[data-id='mltf-jobs-panel']")
        expect(tab).to_be_visible()
        expect(page.locator("#mltf-jobs-panel")).to_be_hidden()
        page.wait_for_timeout(1500)  # the one first load (states for notifications) is done by now
        start = len(gets)
        page.wait_for_timeout(4 * 1000 * lab['poll_seconds'] + 500)
        assert len(gets) == start, "polled while the panel was hidden"

        tab.click()
        expect(page.locator("#mltf-jobs-panel")).to_be_visible()
        expect(page.locator("#mltf-jobs-panel .mltf-panel-status")).to_contain_text("updated")
        shown = len(gets)
        page.wait_for_timeout(4 * 1000 * lab['poll_seconds'] + 500)
        assert len(gets) >= shown + 2, "did not poll while the panel was shown"

        tab.click()
        expect(page.locator("#mltf-jobs-panel")).to_be_hidden()
        page.wait_for_timeout(1000 * lab['poll_seconds'] + 500)  # a request in flight may still land
        hidden = len(gets)
        page.wait_for_timeout(4 * 1000 * lab['poll_seconds'])
        assert len(gets) == hidden, "kept polling after the panel was hidden"
    finally:
        page.request.put(url, headers=headers, data={"raw": "{}"})


def test_project_size_warning_and_limit(lab: dict[str, Any], page: Page) -> None:
    """Above the warning size the dialog warns; above the limit it says why and Submit stays disabled."""
    _open_lab(page, lab)
    for name, expected in (("big", "more than 1.0 MB"), ("huge", "over the limit of 4.0 MB")):
        folder = page.locator(".jp-DirListing-item[data-isdir='true']", has_text=name)
        expect(folder).to_be_visible(timeout=30_000)
        folder.click(button="right")
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Submit directory to MLTF$")).click()
        form = page.locator(".mltf-submit-dialog .mltf-submit-form")
        expect(form.locator(".mltf-size-warning")).to_contain_text(expected, timeout=30_000)
        accept = page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-accept")
        if name == "big":
            expect(form.locator(".mltf-files-summary")).to_contain_text("2.0 MB")
            expect(accept).to_be_enabled()
        else:
            expect(form.locator(".mltf-size-warning")).to_have_class(re.compile("mltf-mod-error"))
            expect(accept).to_be_disabled()
        page.locator(".mltf-submit-dialog .jp-Dialog-button.jp-mod-reject").click()
        expect(page.locator(".mltf-submit-dialog")).to_have_count(0)
