"""The pgTAP files run unchanged under pg_prove (what `supabase test db` runs), against the
session database: each file is self-contained (begin; plan; ...; finish(); rollback;)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import PGTAP_ENV, tap_problems

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "tests" / "sql").glob("*.test.sql"))


def test_every_pgtap_file_passes_under_pg_prove(database_url):
    assert len(FILES) >= 10
    done = subprocess.run(["pg_prove", "--ext", ".sql", "-d", database_url, *map(str, FILES)],
                          capture_output=True, text=True, env=dict(os.environ, **PGTAP_ENV), cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "All tests successful." in done.stdout
    assert f"Files={len(FILES)}," in done.stdout


def test_files_are_self_contained():
    for path in FILES:
        text = path.read_text().lower()
        assert "select plan(" in text or "select * from plan(" in text, path.name
        assert "finish()" in text and text.rstrip().endswith("rollback;"), path.name


def test_the_tap_reader_reports_failures_with_their_line(tmp_path):
    sql = tmp_path / "x.test.sql"
    sql.write_text("begin;\nselect plan(2);\nselect ok(true, 'first');\nselect ok(false, 'second one');\n")
    problems = tap_problems(sql, "1..2\nok 1 - first\nnot ok 2 - second one\n# Failed test 2: \"second one\"\n")
    assert problems == ['x.test.sql:4: not ok 2 - second one\n# Failed test 2: "second one"']
    assert tap_problems(sql, "1..3\nok 1 - first\n") == ["planned 3 tests but ran 1"]
    assert tap_problems(sql, "") == ["no plan: the file must call plan(n)", "no test ran"]
    assert tap_problems(sql, "1..1\nnot ok 1 - later # TODO not yet\n") == []
    # A value the file prints is not a plan, even where tap.py's pattern would take it for one.
    assert tap_problems(sql, "1..1\n14392709-6e2a-4c1b-9d1e-3f0a2b4c5d6e\nok 1 - first\n") == []
