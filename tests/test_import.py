"""`finora import`: CSV and JSON Lines, per-row reports, and a resume after a kill."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from app.ids import well_formed
from app.jobs.importer import REPORT_HEADER, Options, import_file
from app.models import Customer, Job
from tests.conftest import ROOT, make_tenant
from tests.test_cli import FINORA, arun

CSV_TEXT = (
    "email,name,phone,notes\n"  # 1: notes is not a contract field: ignored
    "ada@shop.ng,Ada Obi,08012345678,vip\n"  # 2 created
    "not-an-email,Bad Email,,\n"  # 3 failed
    "\n"  # 4 blank: no row
    "ADA@shop.ng,Someone Else,,\n"  # 5 found (same email as line 2)
    'bola@shop.ng,"Bola\n'  # 6: a quoted name over two lines (a control character)
    'Two Lines",,\n'  # 7
    "chidi@shop.ng,,123,\n"  # 8 failed: phone
    "dayo@shop.ng,,,\n"  # 9 created, default name
)
JSONL_LINES = [
    json.dumps({"email": "eze@shop.ng", "name": "Eze", "extra": "ignored"}),  # 1 created
    "{not json",  # 2 unreadable
    json.dumps(["an", "array"]),  # 3 failed: not an object
    json.dumps({"name": "No Email"}),  # 4 failed: email blank
    "",  # 5 blank
    json.dumps({"email": "femi@shop.ng", "name": ["a", "list"]}),  # 6: name left out
    json.dumps({"email": "EZE@shop.ng"}),  # 7 found
]


def report_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == REPORT_HEADER
    return rows[1:]


async def active_count(business_id: str) -> int:
    return await Customer.filter(business_id=business_id, is_active=True).count()


async def test_csv_import_with_bad_rows(app, tmp_path):
    tenant = await make_tenant("Import CSV")
    source = tmp_path / "shop.csv"
    source.write_text(CSV_TEXT)
    report = tmp_path / "report.csv"
    summary = await import_file(
        source, business_id=tenant.business_id, report=report, show_progress=False
    )
    assert summary.total == 6 and summary.counted == 6
    assert summary.counts == {"created": 4, "found": 1, "updated": 0, "failed": 1, "unreadable": 0}
    assert summary.unused == ["notes"]
    rows = report_rows(report)
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("2", "created", ""),
        ("3", "failed", "email:INVALID"),
        ("5", "found", ""),
        ("6", "created", "name:INVALID;name:DEFAULTED"),  # a bad name costs only the name
        ("8", "created", "phone:INVALID;name:DEFAULTED"),
        ("9", "created", "name:DEFAULTED"),
    ]
    assert summary.defaulted_names == 3 and summary.warned == 3
    assert rows[0][2] == rows[2][2] and rows[0][2].startswith("cust_")
    ada = await Customer.get(id=rows[0][2])
    assert (ada.email, ada.name, ada.phone) == ("ada@shop.ng", "Ada Obi", "+2348012345678")
    chidi = await Customer.get(id=rows[4][2])
    assert (chidi.email, chidi.name, chidi.phone) == ("chidi@shop.ng", "chidi", None)
    assert (await Customer.get(id=rows[5][2])).name == "dayo"
    # Every column but the random ids (which may spell "ada" by chance, about once in
    # a thousand runs) holds no PII; the ids are ours and nothing else.
    text = report.read_text()
    for customer_id in {r[2] for r in rows if r[2]}:
        assert well_formed(customer_id, "cust")
        text = text.replace(customer_id, "")
    assert not any(pii in text.lower() for pii in ("shop.ng", "ada", "bola", "0801", "vip"))
    assert await active_count(tenant.business_id) == 4


async def test_jsonl_import_with_bad_rows_then_again(app, tmp_path):
    tenant = await make_tenant("Import JSONL")
    source = tmp_path / "export.txt"  # no telling extension: recognised by its content
    source.write_text("\n".join(JSONL_LINES) + "\n")
    report = tmp_path / "r.csv"
    summary = await import_file(
        source, business_id=tenant.business_id, report=report, show_progress=False
    )
    assert summary.counts == {"created": 2, "found": 1, "updated": 0, "failed": 1, "unreadable": 2}
    assert summary.unused == ["extra"]
    rows = report_rows(report)
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("1", "created", ""),
        ("2", "unreadable", "UNREADABLE"),
        ("3", "unreadable", "NOT_AN_OBJECT"),
        ("4", "failed", "email:BLANK"),
        ("6", "created", "name:INVALID;name:DEFAULTED"),
        ("7", "found", ""),
    ]
    again = await import_file(
        source, business_id=tenant.business_id, report=report, show_progress=False
    )
    assert again.already_done and report_rows(report) == rows
    anew = await import_file(
        source, business_id=tenant.business_id, report=report, restart=True, show_progress=False
    )
    assert (anew.counts["created"], anew.counts["found"], anew.counts["failed"]) == (0, 3, 1)
    assert anew.kept_report == tmp_path / "r.1.csv" and report_rows(anew.kept_report) == rows
    assert await active_count(tenant.business_id) == 2


async def test_a_killed_import_resumes_without_duplicates(settings, app, tmp_path):
    """SIGKILL in the middle (batches of 3), run again: every row once, in the report and
    in the database."""
    tenant = await make_tenant("Import kill")
    count = 600
    source = tmp_path / "big.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "email"])
        for n in range(count):
            writer.writerow([f"Person {n}", f"person{n}@kill.ng"])
            if n % 50 == 0:
                writer.writerow(
                    ["Dup", f"PERSON{n}@kill.ng"]
                )  # found, in the same or a later batch
    rows_in_file = count + count // 50
    args = [FINORA, "import", "--business", tenant.business_id, str(source), "--batch-size", "3"]
    process = subprocess.Popen(
        args, env=dict(os.environ), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while True:
        job = await Job.filter(name__startswith=f"import:{tenant.business_id}:").first()
        if job is not None and job.done >= 30:
            break
        assert process.poll() is None and time.monotonic() < deadline, "import ended too early"
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(process.wait, 10)
    partial = await Job.get(name=job.name)
    assert 30 <= partial.done < rows_in_file  # killed part way
    resumed = await arun("import", "--business", tenant.business_id, str(source))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stdout
    assert f"imported {rows_in_file} record(s)" in resumed.stdout
    rows = report_rows(Path(f"{source}.report.csv"))
    lines = [int(r[0]) for r in rows]
    assert lines == sorted(set(lines)) and len(lines) == rows_in_file  # each line once, in order
    assert [r[1] for r in rows].count("created") == count
    assert [r[1] for r in rows].count("found") == count // 50
    assert await active_count(tenant.business_id) == count
    ids = {r[2] for r in rows}
    assert len(ids) == count and await Customer.filter(id__in=list(ids)).count() == count
    again = await arun("import", "--business", tenant.business_id, str(source))
    assert "already imported" in again.stdout


async def test_cli_refuses_bad_files_in_one_line(settings, app, tmp_path):
    tenant = await make_tenant("Import refusals")
    headerless = tmp_path / "no-header.csv"
    headerless.write_text("ada@shop.ng,Ada\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"email\n\xff\xfe\x00bad\n")
    for path, words in (
        (headerless, "header"),
        (binary, "not a text file"),
        (tmp_path / "missing.csv", "no such file"),
    ):
        result = await arun("import", "--business", tenant.business_id, str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith("finora: error:") and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    good = tmp_path / "good.csv"
    good.write_text("email\nok@shop.ng\n")
    for size in ("0", "501"):
        refused = await arun(
            "import", "--business", tenant.business_id, str(good), "--batch-size", size
        )
        assert refused.returncode == 2 and "batch size must be 1 to 500" in refused.stderr
    unknown = await arun("import", "--business", "biz_nope", str(headerless))
    assert unknown.returncode == 2 and "no business" in unknown.stderr
    assert await active_count(tenant.business_id) == 0


async def test_a_crash_between_report_and_commit_is_cut_from_the_report(app, tmp_path, monkeypatch):
    """The third batch's report lines are on disk, its transaction never commits: the next
    run drops those lines and does the batch again, so they say `created`, once."""
    from app.jobs import importer

    tenant = await make_tenant("Import cut")
    source = tmp_path / "five.jsonl"
    source.write_text("".join(json.dumps({"email": f"p{n}@cut.ng"}) + "\n" for n in range(10)))
    report = tmp_path / "five.report.csv"
    synced = 0

    def crash_on_third(fd: int) -> None:
        nonlocal synced
        synced += 1
        if synced == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(importer.os, "fsync", crash_on_third)
    options = {"business_id": tenant.business_id, "report": report, "show_progress": False}
    with pytest.raises(KeyboardInterrupt):
        await import_file(source, options=Options(batch_size=2), **options)
    assert [r[0] for r in report_rows(report)] == ["1", "2", "3", "4", "5", "6"]  # 5, 6 uncommitted
    assert await active_count(tenant.business_id) == 4
    monkeypatch.undo()
    summary = await import_file(source, options=Options(batch_size=2), **options)
    assert summary.resumed_after == 4 and (summary.counts["created"], summary.counts["found"]) == (
        10,
        0,
    )
    rows = report_rows(report)
    assert [r[0] for r in rows] == [str(n) for n in range(1, 11)]
    assert {r[1] for r in rows} == {"created"} and len({r[2] for r in rows}) == 10
